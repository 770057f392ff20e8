"""Item vectors cached on disk, so a rerun on the same catalogue skips the slow embedding.

The key is a hash of the encoder's name and every item's id and document: another encoder,
a changed text or another catalogue gets its own file. The files are plain ``.npy`` arrays read
with ``allow_pickle=False``; they are a cache, never a saved model (models keep their vectors
in safetensors under a manifest).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

DEFAULT_CACHE = Path("var") / "cache" / "recommender"


def cache_dir() -> Path:
    """``TROIKA_REC_CACHE`` if set, else ``var/cache/recommender`` under the working directory."""
    return Path(os.environ.get("TROIKA_REC_CACHE") or DEFAULT_CACHE)


def cached_item_vectors(items, embedder, *, directory: str | Path | None = None,
                        show_progress: bool = True) -> tuple[np.ndarray, bool]:
    """``embedder``'s vectors of the items' documents (rows in item order), and whether they
    came from the cache."""
    directory = Path(directory) if directory is not None else cache_dir()
    digest = hashlib.sha256(embedder.name.encode())
    for item in items:
        digest.update(b"\0" + item.id.encode() + b"\0" + item.document.encode())
    path = directory / f"vectors-{digest.hexdigest()[:16]}.npy"
    if path.is_file():
        try:
            vectors = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            vectors = None  # a damaged cache file is recomputed, never trusted
        if vectors is not None and vectors.ndim == 2 and vectors.shape[0] == len(items) and np.isfinite(vectors).all():
            return vectors, True
    vectors = embedder.encode([item.document for item in items], show_progress=show_progress)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, vectors, allow_pickle=False)
    tmp.replace(path)
    return vectors, False
