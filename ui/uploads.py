"""Uploaded ONNX files kept for share links: a bounded, content-addressed store on the server's disk.

A student's upload becomes the workspace graph ``g=onnx:<sha256>``; whoever holds that link (the
upload's SHA-256, which nobody can guess without the file) opens the same model. Stages:
  1. **put**: refuse a file over :data:`engine.core.budget.MAX_ONNX_BYTES`; its name is the SHA-256
     of its bytes (``<64 hex digits>.onnx``) — no part of a name ever comes from the request;
     written to a temporary name and renamed, so a reader never sees half a file;
  2. **evict**: entries older than the expiry go; then the oldest until at most :data:`MAX_FILES`
     files and :data:`MAX_TOTAL_BYTES` bytes remain (the store cannot fill the disk);
  3. **get**: the key must be exactly 64 lowercase hex digits (anything else is refused before any
     file is touched); the file must exist, be younger than the expiry, and hash to its name.

The folder is ``$AISL_UPLOAD_DIR`` or ``<tmp>/aisl-uploads`` (mode 0700). Replicas behind a load
balancer share it (deploy/run_local.sh passes one folder to all, deploy/compose.yaml mounts one volume),
so a link works whichever replica answers: nothing a link needs lives in one process's memory. Several
processes may put and evict at once: a file another one removed meanwhile is simply skipped.
The key is a capability: no route serves the folder, no listing exists, and a session reaches an
upload only through a ``g=onnx:<key>`` link. No streamlit here.
Not handled: several machines — mount one shared store there (NFS or a cloud file share at
``AISL_UPLOAD_DIR``; an object store would need a put/get adapter in place of the folder).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
import time
from pathlib import Path

from engine.core import budget
from engine.core.errors import BudgetError, EngineError

MAX_FILES = 200  # files kept at once
MAX_TOTAL_BYTES = 1 << 30  # 1 GiB of uploads at once
TTL_S = 7 * 24 * 3600  # a share link to an upload works for a week
_KEY = re.compile(r"[0-9a-f]{64}")
_LOCK = threading.Lock()


class UploadStore:
    """Content-addressed ONNX files under one folder (see the module docstring)."""

    def __init__(
        self,
        root: Path | str | None = None,
        ttl_s: float = TTL_S,
        max_files: int = MAX_FILES,
        max_bytes: int = MAX_TOTAL_BYTES,
    ):
        default = Path(tempfile.gettempdir()) / "aisl-uploads"
        self.root = Path(root or os.environ.get("AISL_UPLOAD_DIR") or default)
        self.ttl_s, self.max_files, self.max_bytes = ttl_s, max_files, max_bytes

    def put(self, data: bytes) -> str:
        """Keep ``data``; return its key (SHA-256, hex)."""
        if len(data) > budget.MAX_ONNX_BYTES:
            raise BudgetError(
                f"the file is {len(data) >> 20} MiB; the limit is {budget.MAX_ONNX_BYTES >> 20} MiB"
            )
        key = hashlib.sha256(data).hexdigest()
        with _LOCK:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = self._path(key)
            if path.exists():
                os.utime(path)  # recently used: evicted last
            else:
                fd, tmp = tempfile.mkstemp(dir=self.root, suffix=".part")
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            self._evict(keep=key)
        return key

    def get(self, key: str) -> bytes:
        """The bytes kept under ``key``; an EngineError if the key is malformed, unknown or expired."""
        if not isinstance(key, str) or not _KEY.fullmatch(key):
            raise EngineError("an uploaded model is named by the 64 hex digits of its SHA-256")
        path = self._path(key)
        try:
            age = time.time() - path.stat().st_mtime
            data = path.read_bytes() if age <= self.ttl_s else None
        except OSError:
            data = None
        if data is None or hashlib.sha256(data).hexdigest() != key:
            raise EngineError(
                f"no uploaded model {key[:12]}… on this server (uploads are kept for "
                f"{self.ttl_s / 86400:g} days); upload the file again"
            )
        return data

    def keys(self) -> list[str]:
        """Keys currently kept (oldest first)."""
        return [p.stem for p in self._files()]

    def _path(self, key: str) -> Path:
        return self.root / f"{key}.onnx"

    def _files(self) -> list[Path]:
        return [p for _, _, p in self._stats()]

    def _stats(self) -> list[tuple[float, int, Path]]:
        """(mtime, size, path) of every kept file, oldest first; a file removed meanwhile (by another
        replica sharing the folder) is left out."""
        found = []
        try:
            names = list(self.root.iterdir())
        except OSError:
            return []
        for p in names:
            if p.suffix == ".onnx" and _KEY.fullmatch(p.stem):
                try:
                    st = p.stat()
                except OSError:
                    continue
                found.append((st.st_mtime, st.st_size, p))
            elif p.suffix == ".part":  # a writer that died mid-write leaves its temporary file
                with contextlib.suppress(OSError):
                    if time.time() - p.stat().st_mtime > 3600:
                        p.unlink()
        return sorted(found)

    def _evict(self, keep: str) -> None:
        now = time.time()
        files = []
        for mtime, size, p in self._stats():
            if now - mtime > self.ttl_s and p.stem != keep:
                p.unlink(missing_ok=True)
            else:
                files.append((size, p))
        total = sum(size for size, _ in files)
        while files and (len(files) > self.max_files or total > self.max_bytes):
            size, oldest = files.pop(0)
            if oldest.stem == keep:  # the newest upload always stays
                files.append((size, oldest))
                if len(files) == 1:
                    break
                continue
            total -= size
            oldest.unlink(missing_ok=True)


STORE = UploadStore()
