"""Fetch: a verified local copy of every file a split needs.

The package's face: the names other stages use, re-exported. :func:`fetch_file` lives in
:mod:`.files`, trying locations in :mod:`.attempts`; :class:`FetchSettings` in :mod:`mnistfamily.config`.

Order of business for one file: a verified copy already in the cache is used as is;
otherwise, under a per-file lock (:func:`mnistfamily.safe_write.locked`, which names its
holder to whoever waits), each location is tried in turn (``source=`` exclusively when given;
else mirrors, then the canonical URL). Each copy lands in a marked temporary area beside its
target (:func:`mnistfamily.safe_write.temp_area`), is checked against the registry's size and
hashes, and only then is renamed into place. The error after the last location lists every
location and why it failed. Every download of one load shares a retry budget
(:func:`.transfer.retry_budget`).

Two rules hold for every location. Credentials (``user:password@`` in a URL, secrets in
``storage_options``) never appear in a log record or an error message: they are replaced
by ``***``. A file the registry has no checksum for is never fetched over plain
``http://`` (except from a loopback host): see :func:`.locations.plain_http_refusal`.
"""

from __future__ import annotations

import logging

from ..config import FetchSettings
from ..errors import UnverifiedFileWarning
from ..redaction import redact_records
from .files import cached_path, fetch_file, missing_files_error
from .transfer import retry_budget
from .verify import Verification, verify_file

__all__ = ["fetch_file", "cached_path", "missing_files_error", "FetchSettings", "Verification", "verify_file",
           "UnverifiedFileWarning", "retry_budget"]

redact_records(logging.getLogger("mnistfamily.fetch"))  # every module of this stage logs through it
