"""Where lropt caches derived data (tokenised data sets, downloads): ``$LROPT_CACHE`` or ``~/.cache/lropt``."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """``$LROPT_CACHE/<parts...>`` (default ``~/.cache/lropt``), created if missing."""
    root = os.environ.get("LROPT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "lropt")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_key(**items) -> str:
    """A short stable hash of JSON-able ``items`` (names a cache entry)."""
    blob = json.dumps(items, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
