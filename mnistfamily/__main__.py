"""``python -m mnistfamily``: the same as the ``mnistfamily`` command."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
