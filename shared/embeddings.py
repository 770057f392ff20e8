"""Sentence embeddings and cosine-similarity search over them.

``Embedder`` turns texts into L2-normalised vectors with sentence-transformers;
``VectorIndex`` finds the nearest ones with faiss, under the caller's own ids (FAQ ids,
item ids). Both normalise, so a cosine similarity is a plain dot product::

    embedder = Embedder()
    index = VectorIndex.build(faq_ids, faq_questions, embedder)
    index.search(embedder.encode(["how do I reset my password"]), k=3)
    # [[Hit(id='faq-12', score=0.83), Hit(id='faq-4', score=0.61), ...]]
    index.save("var/indexes/faq")          # faiss file + JSON + manifest, swapped in atomically
    VectorIndex.load("var/indexes/faq")     # verifies the manifest before reading a byte of faiss
"""

from __future__ import annotations

import json
import numbers
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import faiss
import numpy as np

from .artifacts import atomic_dir, verify_manifest, write_manifest
from .encoder import DEFAULT_ENCODER_NAME, resolve_encoder
from .errors import DataError, IntegrityError

Id = str | int

MANIFEST_KIND = "vector-index"
INDEX_FILE = "index.faiss"
META_FILE = "index.json"
FORMAT_VERSION = 1

# Below this many vectors an exact scan is a few milliseconds per query (50k x 384 floats)
# and gives the true neighbours; above it HNSW keeps queries sub-millisecond at ~99% recall.
HNSW_THRESHOLD = 50_000
# HNSW graph degree and beam widths: faiss's usual quality/speed middle ground for
# sentence embeddings. efSearch is raised to k per query when k is larger.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 64


class Embedder:
    """Texts → float32 (n, dim) L2-normalised vectors from a sentence-transformers model.

    ``model`` is anything ``resolve_encoder`` accepts (None = the packaged all-MiniLM-L6-v2).
    The model loads on first use, once, even when several threads ask at the same time,
    so constructing an Embedder (e.g. in an app factory) costs nothing.
    """

    def __init__(self, model: str | None = None, *, batch_size: int = 64, device: str = "cpu"):
        self.model = model
        self.batch_size = batch_size
        self.device = device
        # Resolved now so that a wrong path fails when configured, not at the first request.
        self.model_path = resolve_encoder(model)
        self._model = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """What to record next to vectors made by this embedder (vectors of different models don't mix)."""
        return str(self.model or DEFAULT_ENCODER_NAME)

    @property
    def sentence_transformer(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from sentence_transformers import SentenceTransformer

                    self._model = SentenceTransformer(
                        self.model_path, device=self.device, local_files_only=True, trust_remote_code=False
                    )
        return self._model

    @property
    def dim(self) -> int:
        model = self.sentence_transformer
        return model.get_embedding_dimension() or int(self._encode(["dimension probe"], False).shape[1])

    def encode(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        """One unit-length float32 row per text; texts longer than the model's limit are truncated."""
        if isinstance(texts, str):
            raise DataError("encode expects a list of strings (wrap a single text in a list)")
        texts = list(texts)
        if not all(isinstance(t, str) for t in texts):
            raise DataError("encode expects a list of strings, got a non-string item")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._encode(texts, show_progress)

    def _encode(self, texts: list[str], show_progress: bool) -> np.ndarray:
        vectors = self.sentence_transformer.encode(
            texts,
            batch_size=self.batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return np.asarray(vectors, dtype=np.float32)

    def __repr__(self) -> str:
        return f"Embedder({self.name!r}, batch_size={self.batch_size}, device={self.device!r})"


class Hit(NamedTuple):
    id: Id
    score: float  # cosine similarity in [-1, 1]


class VectorIndex:
    """Cosine-similarity search over vectors, each stored under an external id (str or int).

    ``kind``: "exact" (faiss IndexFlatIP, true neighbours), "hnsw" (IndexHNSWFlat, inner
    product, approximate but fast on large collections) or "auto": exact until the index
    reaches ``HNSW_THRESHOLD`` vectors, then rebuilt once as HNSW.

    Vectors are normalised on ``add`` and ``search``, so raw embeddings are fine. Ids are
    unique and kept in insertion order; faiss row i holds ``ids[i]``. There is no removal:
    indexes are rebuilt offline and shipped (see DESIGN.md). Concurrent ``search`` calls are
    safe; ``add`` must not run while other threads search.
    """

    KINDS = ("auto", "exact", "hnsw")

    def __init__(self, dim: int, kind: str = "auto", *, metadata: dict | None = None):
        if not isinstance(dim, numbers.Integral) or isinstance(dim, bool) or dim < 1:
            raise DataError(f"dim must be a positive integer, got {dim!r}")
        if kind not in self.KINDS:
            raise DataError(f"kind must be one of {', '.join(self.KINDS)}; got {kind!r}")
        self.dim = int(dim)
        self.kind = kind
        # Free-form JSON saved with the index, e.g. which encoder made the vectors.
        self.metadata = dict(metadata or {})
        self._ids: list[Id] = []
        self._positions: dict[Id, int] = {}
        self._index = self._new_faiss_index("hnsw" if kind == "hnsw" else "exact")

    @classmethod
    def build(cls, ids: Sequence[Id], texts: Sequence[str], embedder: Embedder, *, kind: str = "auto",
              show_progress: bool = False) -> VectorIndex:
        """Embed ``texts`` and index them under ``ids``; records the encoder in ``metadata``."""
        if len(ids) != len(texts):
            raise DataError(f"got {len(ids)} ids for {len(texts)} texts")
        index = cls(embedder.dim, kind, metadata={"encoder": embedder.name})
        return index.add(ids, embedder.encode(texts, show_progress=show_progress))

    @property
    def index_type(self) -> str:
        """The structure in use now: "exact" or "hnsw" (``kind`` is what was asked for)."""
        return "hnsw" if isinstance(self._index, faiss.IndexHNSW) else "exact"

    @property
    def ids(self) -> list[Id]:
        return list(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, id: Id) -> bool:
        return id in self._positions

    def __repr__(self) -> str:
        return f"VectorIndex(dim={self.dim}, kind={self.kind!r}, size={len(self)}, index_type={self.index_type!r})"

    def add(self, ids: Sequence[Id], vectors) -> VectorIndex:
        """Add one row of ``vectors`` (n, dim) per id; all-or-nothing, returns self."""
        if isinstance(ids, (str, bytes)):
            raise DataError("ids must be a list (wrap a single id in a list)")
        ids = [_check_id(i) for i in ids]
        if not ids and _as_array(vectors, "vectors").size == 0:
            return self
        vectors = self._as_unit_rows(vectors, "vectors")
        if len(ids) != len(vectors):
            raise DataError(f"got {len(ids)} ids for {len(vectors)} vectors")
        seen = set(self._positions)
        for i in ids:
            if i in seen:
                raise DataError(f"duplicate id {i!r}: each id may be added once")
            seen.add(i)
        if self.kind == "auto" and self.index_type == "exact" and len(self) + len(ids) >= HNSW_THRESHOLD:
            old = self._index.reconstruct_n(0, self._index.ntotal)
            self._index = self._new_faiss_index("hnsw")
            self._index.add(old)
        self._index.add(vectors)
        for i in ids:
            self._positions[i] = len(self._ids)
            self._ids.append(i)
        return self

    def search(self, queries, k: int = 10) -> list[list[Hit]]:
        """The ``k`` most similar ids for each query, best first, as ``Hit(id, score)``.

        ``queries`` is an (n, dim) array or one (dim,) vector; the answer has one list per
        query either way. Lists are shorter than ``k`` when the index holds fewer vectors
        (empty for an empty index).
        """
        if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k < 1:
            raise DataError(f"k must be a positive integer, got {k!r}")
        queries = _as_array(queries, "queries")
        if queries.ndim == 1:
            queries = queries[None, :]
        queries = self._as_unit_rows(queries, "queries")
        if len(queries) == 0:
            return []
        if len(self) == 0:
            return [[] for _ in range(len(queries))]
        k = min(int(k), len(self))
        params = None
        if self.index_type == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(HNSW_EF_SEARCH, k))
        scores, rows = self._index.search(queries, k, params=params)
        # Rounding can push a normalised dot product a hair past ±1; callers compare with thresholds.
        scores = np.clip(scores, -1.0, 1.0)
        # Row -1 marks a slot HNSW could not fill (its graph walk ran short); skip it.
        return [
            [Hit(self._ids[r], float(s)) for r, s in zip(row_ids, row_scores) if r >= 0]
            for row_ids, row_scores in zip(rows, scores)
        ]

    def save(self, directory: str | Path) -> Path:
        """Write the index atomically: readers see the old or the new one, the old kept as ``<dir>.previous``."""
        directory = Path(directory)
        meta = {
            "format_version": FORMAT_VERSION,
            "dim": self.dim,
            "kind": self.kind,
            "ids": self._ids,
            "metadata": self.metadata,
        }
        with atomic_dir(directory) as tmp:
            faiss.write_index(self._index, str(tmp / INDEX_FILE))
            (tmp / META_FILE).write_text(json.dumps(meta, ensure_ascii=False))
            write_manifest(tmp, MANIFEST_KIND, extra={"dim": self.dim, "size": len(self), "index_type": self.index_type})
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> VectorIndex:
        """Read a saved index after checking every file against its manifest."""
        directory = Path(directory)
        verify_manifest(directory, kind=MANIFEST_KIND)
        try:
            meta = json.loads((directory / META_FILE).read_text())
            index = cls(meta["dim"], meta["kind"], metadata=meta["metadata"])
            ids = [_check_id(i) for i in meta["ids"]]
        except (ValueError, KeyError, TypeError, DataError) as exc:
            raise IntegrityError(f"{directory}/{META_FILE} is malformed: {exc}") from None
        if meta.get("format_version") != FORMAT_VERSION:
            raise IntegrityError(f"{directory} has index format {meta.get('format_version')!r}; this troika reads {FORMAT_VERSION}")
        faiss_index = faiss.read_index(str(directory / INDEX_FILE))
        if faiss_index.d != index.dim or faiss_index.ntotal != len(ids) or len(set(ids)) != len(ids):
            raise IntegrityError(f"{directory}: the faiss index and its ids do not agree")
        index._index = faiss_index
        index._ids = ids
        index._positions = {i: row for row, i in enumerate(ids)}
        return index

    def _new_faiss_index(self, index_type: str):
        if index_type == "exact":
            return faiss.IndexFlatIP(self.dim)
        index = faiss.IndexHNSWFlat(self.dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
        return index

    def _as_unit_rows(self, vectors, what: str) -> np.ndarray:
        array = _as_array(vectors, what)
        if array.dtype.kind not in "iuf":
            raise DataError(f"{what} must be real numbers, got dtype {array.dtype}")
        if array.ndim != 2 or array.shape[1] != self.dim:
            raise DataError(f"{what} must have shape (n, {self.dim}), got {array.shape}")
        if not np.isfinite(array).all():
            raise DataError(f"{what} contain NaN or infinite values")
        # Scaling by the largest component first keeps the norm from underflowing or
        # overflowing, whatever the magnitude of the values.
        array = array.astype(np.float64)
        peaks = np.abs(array).max(axis=1, keepdims=True)
        if (peaks == 0).any():
            raise DataError(f"{what} row {int(np.flatnonzero(peaks[:, 0] == 0)[0])} is all zeros: it has no direction to compare")
        array /= peaks
        return np.ascontiguousarray(array / np.linalg.norm(array, axis=1, keepdims=True), dtype=np.float32)


def _as_array(values, what: str) -> np.ndarray:
    try:
        return np.asarray(values)
    except ValueError:
        raise DataError(f"{what} must be a rectangular array of numbers") from None


def _check_id(value) -> Id:
    # bool is an int subclass, and True == 1 would silently collide with id 1.
    if isinstance(value, bool) or not isinstance(value, (str, numbers.Integral)):
        raise DataError(f"ids must be strings or integers, got {value!r}")
    return str(value) if isinstance(value, str) else int(value)
