"""``python -m harness.crash``: run one worker, or (``--zygote``) the zygote that forks them."""

import sys

from .worker import main
from .zygote import _zygote

if __name__ == "__main__":  # pragma: no cover - run as a child process by the tests
    sys.exit(_zygote() if sys.argv[1:] == ["--zygote"] else main())
