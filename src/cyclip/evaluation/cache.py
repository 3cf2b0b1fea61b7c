"""On-disk cache of extracted features, so re-running another metric costs no forward pass.

An entry is a ``torch.save`` of ``{"meta": {str: str}, "tensors": {str: Tensor}}``, read back
with ``weights_only=True`` and written atomically (temporary file + ``os.replace``), so a crash
or a concurrent writer never leaves a half-written entry. Keys are sha256 digests of the
identity of everything that determines the features (model fingerprint, dataset fingerprint,
preprocessing, precision, cyclip version); see :func:`cache_key`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import Tensor

ENV_VAR = "CYCLIP_CACHE"


def default_cache_dir() -> Path:
    """``$CYCLIP_CACHE`` if set, else ``~/.cache/cyclip/features``."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "cyclip" / "features"


def cache_key(**parts: object) -> str:
    """sha256 of the JSON of ``parts`` (sorted keys); values must be JSON-serialisable."""
    blob = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class CacheWarning(UserWarning):
    """The feature cache could not be used; evaluation goes on without it."""


class FeatureCache:
    """A directory of cached tensors. ``root=None`` disables caching (every lookup misses).

    Args:
        root: cache directory (created on first write).
    """

    def __init__(self, root: str | os.PathLike | None) -> None:
        self.root = Path(root).expanduser() if root is not None else None

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def path(self, key: str) -> Path:
        if self.root is None:
            raise RuntimeError("the feature cache is disabled")
        return self.root / key[:2] / f"{key}.pt"

    def load(self, key: str | None) -> dict[str, Tensor] | None:
        """The tensors stored under ``key``, or ``None`` on a miss (or an unreadable entry)."""
        if self.root is None or key is None:
            return None
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
            return dict(entry["tensors"])
        except Exception:  # a corrupt entry is a miss; it will be overwritten
            return None

    def save(
        self, key: str | None, tensors: dict[str, Tensor], meta: dict[str, str] | None = None
    ) -> None:
        """Store ``tensors`` (moved to CPU) under ``key``, atomically. No-op when disabled."""
        if self.root is None or key is None:
            return
        try:
            self._write(self.path(key), tensors, meta)
        except OSError as exc:  # unwritable, full, or a regular file in the way
            warnings.warn(
                f"feature cache {self.root} is not usable ({exc.strerror or exc}); continuing "
                "without caching (set CYCLIP_CACHE or --cache-dir to a writable folder)",
                CacheWarning,
                stacklevel=2,
            )
            self.root = None

    def _write(self, path: Path, tensors: dict[str, Tensor], meta: dict[str, str] | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {
            "meta": dict(meta or {}),
            "tensors": {k: v.detach().cpu().contiguous() for k, v in tensors.items()},
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".pt")
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(entry, f)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
