"""Checking a file against its registry entry: as published, or by decompressed content."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .. import config
from ..errors import CacheError, ChecksumError
from ..formats.compression import DECOMPRESSION_ERRORS, decompressing_reader, detect
from ..registry import FileSpec

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Verification:
    """How a file was recognised: ``"published"`` bytes, ``"payload"`` content, or ``"unverified"``."""

    method: str
    size: int
    #: the digest the match was made on: the file's own for ``"published"``, its decompressed
    #: content's for ``"payload"``, the archive's for ``"archive"`` (computing another would
    #: cost a second pass over the file)
    sha256: str | None = None
    md5: str | None = None
    #: where the decompressed payload was kept, when ``verify_file`` was asked to keep it
    payload_path: Path | None = None


def hash_file(path: str | os.PathLike[str], algorithm: str) -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _Digester:
    """Hashes chunks, and writes them to ``sink``, in a second thread.

    The caller decompresses the next chunk meanwhile: sha256, file writes and both
    decompressors release the GIL, so on two cores the hash and the write cost almost
    nothing. At most four chunks wait in the queue.
    """

    def __init__(self, sink: BinaryIO | None):
        import queue
        import threading

        self.digest = hashlib.sha256()
        self.sink = sink
        self.error: OSError | None = None
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._thread = threading.Thread(target=self._run, name="mnistfamily-digest", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            if self.error is None:  # after a failed write, only drain: the producer must never block
                try:
                    self.digest.update(chunk)
                    if self.sink is not None:
                        self.sink.write(chunk)
                except OSError as exc:
                    self.error = exc

    def add(self, chunk: bytes) -> None:
        self._chunks.put(chunk)

    def stop(self) -> None:
        """Let the thread end once the queued chunks are done (idempotent)."""
        if self._thread.is_alive():
            self._chunks.put(None)
            self._thread.join()

    def finish(self) -> str:
        """Wait for the queued chunks; the hex digest, or the write error."""
        self.stop()
        if self.error is not None:
            raise self.error
        return self.digest.hexdigest()


def hash_payload(path: str | os.PathLike[str], limit: int | None,
                 keep: str | os.PathLike[str] | None = None) -> tuple[str, int]:
    """sha256 and size of a file's decompressed content, stopping past ``limit`` bytes.

    With ``keep``, the decompressed bytes of a compressed file are also written there, in
    the same pass (nothing is written for an uncompressed file: it is its own payload).
    Failing to write ``keep`` is a :class:`~mnistfamily.errors.CacheError` (the disk's fault,
    not the file's).
    """
    size = 0
    matched = True
    with open(path, "rb") as raw:
        kind = detect(raw.read(8))
        raw.seek(0)
        compressed = kind in ("gzip", "xz")
        stream = decompressing_reader(raw, kind if compressed else None)
        sink = open(keep, "wb") if keep is not None and compressed else None
        digester = _Digester(sink)
        try:
            try:
                while True:
                    chunk = stream.read(_CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    if limit is not None and size > limit:
                        break  # a decompression bomb or the wrong file: no need to go on
                    digester.add(chunk)
            except DECOMPRESSION_ERRORS:
                matched = False  # not a valid compressed stream: cannot match
            finally:
                if stream is not raw:
                    stream.close()
            try:
                digest = digester.finish()
            except OSError as exc:
                raise CacheError.cannot_write(Path(keep or path).name, Path(keep or path).parent, exc) from None
        finally:
            digester.stop()  # whatever went wrong, the thread ends before the file closes
            if sink is not None:
                sink.close()
    return (digest if matched else ""), size


def verify_file(path: str | os.PathLike[str], spec: FileSpec,
                keep_payload: str | os.PathLike[str] | None = None) -> Verification:
    """Check ``path`` against ``spec`` and say how it matched; raise ChecksumError if it does not.

    The published bytes are tried first (size, then sha256 or md5). A file that differs
    (found uncompressed, or recompressed by a mirror) is accepted when its decompressed
    content matches the registry's payload sha256. A spec without any hash gives
    ``Verification("unverified", ...)``: the caller decides whether that is allowed.

    ``keep_payload``: when a compressed file matches by its content, its decompressed bytes
    are left at this path (``Verification.payload_path``), so the caller can keep them
    instead of decompressing the file a second time. On any other outcome nothing is left there.
    """
    path = Path(path)
    size = path.stat().st_size
    if not spec.verifiable:
        if spec.size is not None and size != spec.size:  # the one fact known: a truncated copy fails it
            raise ChecksumError(f"{path}: expected {spec.size:,} bytes for {spec.name} (the registry's size; "
                                f"no checksum is known), found {size:,}.")
        return Verification("unverified", size)
    found: list[str] = [f"size {size:,} bytes"]
    if spec.size is None or spec.size == size:
        if spec.sha256:
            digest = hash_file(path, "sha256")
            if digest == spec.sha256:
                return Verification("published", size, sha256=digest)
            found.append(f"sha256 {digest}")
        elif spec.md5:
            digest = hash_file(path, "md5")
            if digest == spec.md5:
                return Verification("published", size, md5=digest)
            found.append(f"md5 {digest}")
    if spec.payload_sha256:
        # a payload of unknown size is bounded too: a small gzip bomb must not fill the disk
        # through keep_payload, nor spend minutes inflating
        cap = spec.payload_size if spec.payload_size is not None else config.max_unknown_size()
        try:
            digest, payload_size = hash_payload(path, cap, keep=keep_payload)
            if digest == spec.payload_sha256 and (spec.payload_size in (None, payload_size)):
                kept = Path(keep_payload) if keep_payload is not None and os.path.exists(keep_payload) else None
                return Verification("payload", size, sha256=digest, payload_path=kept)
        except BaseException:
            if keep_payload is not None:
                Path(keep_payload).unlink(missing_ok=True)
            raise
        if keep_payload is not None:
            Path(keep_payload).unlink(missing_ok=True)
        if spec.payload_size is None and payload_size > cap:
            found.append(f"decompressed content of more than {cap:,} bytes (stopped there: "
                         "MNISTFAMILY_MAX_UNKNOWN_SIZE, the cap for content whose size the registry does not know)")
        else:
            found.append(f"decompressed content {payload_size:,} bytes" + (f", sha256 {digest}" if digest else ""))
    expected = []
    if spec.size is not None:
        expected.append(f"size {spec.size:,} bytes")
    if spec.sha256:
        expected.append(f"sha256 {spec.sha256}")
    elif spec.md5:
        expected.append(f"md5 {spec.md5}")
    if spec.payload_sha256:
        expected.append(f"or decompressed sha256 {spec.payload_sha256}")
    raise ChecksumError(
        f"{path}: does not match the registry entry for {spec.name}: expected {', '.join(expected)}; "
        f"found {', '.join(found)}."
    )
