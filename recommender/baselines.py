"""Recommenders that need no training: the cold-start fallbacks and the frozen-text baseline.

- ``PopularRecommender``: most clicked first (optionally time-decayed).
- ``RecentRecommender``: newest first, popularity breaking ties.
- ``ContentRecommender``: a user is the recency-weighted mean of the frozen encoder's
  vectors of the items they clicked; candidates come from a ``VectorIndex`` over the item
  vectors and score by cosine. An item is recommendable as soon as it has text (no click
  needed); a user without clicks gets a free-text profile's vector, or the fallback.

All share ``recommend(n, ...)`` with the serving filters (exclude what the user has seen,
keep some categories, hide items) and answer ``Recommendation(item, score, source)``, the
source saying which recommender produced it. sklearn style: ``fit`` returns self, what
was learnt ends in ``_``.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Sequence
from typing import NamedTuple

import numpy as np

from shared.embeddings import Embedder, VectorIndex
from shared.errors import DataError

from .features import DAY, popularity
from .records import Feedback, Item
from .splits import by_user

# How many of a user's latest clicks make the user vector: older tastes are in the weights
# as almost nothing anyway, and the cost of a request must not grow with a user's age.
MAX_HISTORY = 50
DEFAULT_HALF_LIFE = 30 * DAY


class Recommendation(NamedTuple):
    item: str
    score: float
    source: str


class Scores(NamedTuple):
    values: np.ndarray
    source: str


def _check_n(n: int) -> int:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise DataError(f"n must be a positive integer, got {n!r}")
    return int(n)


def _keep(item: Item | None, exclude: Collection[str], categories: Collection[str] | None, hidden: Collection[str]) -> bool:
    if item is None or item.id in exclude or item.id in hidden:
        return False
    return categories is None or not set(categories).isdisjoint(item.categories)


class _RankedCatalogue:
    """A fixed score per item; recommendations walk the items from the best score down."""

    source = "ranked"

    def _set_scores(self, items: Sequence[Item], scores: np.ndarray) -> None:
        self.items_ = {item.id: item for item in items}
        self.item_ids_ = [item.id for item in items]
        self.scores_ = np.asarray(scores, dtype=np.float64)
        self._position = {item: i for i, item in enumerate(self.item_ids_)}
        # Stable sort: equal scores keep catalogue order, so answers are reproducible.
        self.order_ = np.argsort(-self.scores_, kind="stable")

    def score(self, candidates: Sequence[str]) -> np.ndarray:
        """Each candidate's score; 0 for an item this recommender has never seen."""
        return np.array([self.scores_[self._position[c]] if c in self._position else 0.0 for c in candidates])

    def recommend(self, n: int = 10, *, exclude: Collection[str] = (), categories: Collection[str] | None = None,
                  hidden: Collection[str] = ()) -> list[Recommendation]:
        n = _check_n(n)
        result = []
        for row in self.order_:
            item = self.items_[self.item_ids_[row]]
            if _keep(item, exclude, categories, hidden):
                result.append(Recommendation(item.id, float(self.scores_[row]), self.source))
                if len(result) == n:
                    break
        return result

    def add_items(self, items: Iterable[Item]) -> _RankedCatalogue:
        """New items join with score 0: known, filterable, last in line until they earn clicks."""
        new = [i for i in items if i.id not in self.items_]
        self._set_scores([*self.items_.values(), *new], np.concatenate([self.scores_, np.zeros(len(new))]))
        return self


class PopularRecommender(_RankedCatalogue):
    source = "popular"

    def __init__(self, *, half_life: float | None = None):
        self.half_life = half_life

    def fit(self, items: Iterable[Item], feedback: Iterable[Feedback], *, now: float | None = None) -> PopularRecommender:
        items = list(items)
        self._set_scores(items, popularity(feedback, [i.id for i in items], now=now, half_life=self.half_life))
        return self

    def add_feedback(self, feedback: Iterable[Feedback]) -> PopularRecommender:
        """Count new clicks at once (exact without a half-life; with one, a new click counts as 1 until the next fit)."""
        clicks = [r.item for r in feedback if r.is_click and r.item in self._position]
        if clicks:
            scores = self.scores_.copy()
            for item in clicks:
                scores[self._position[item]] += 1.0
            self._set_scores(list(self.items_.values()), scores)
        return self


class RecentRecommender(_RankedCatalogue):
    """Newest first. An item's time is its own timestamp, else its first feedback; among
    equally new items (or items with no time at all) the more clicked come first. An item
    added later without a timestamp counts as new at the time it is added."""

    source = "recent"

    def fit(self, items: Iterable[Item], feedback: Iterable[Feedback]) -> RecentRecommender:
        items, feedback = list(items), list(feedback)
        first_seen: dict[str, float] = {}
        for record in feedback:
            if record.timestamp is not None:
                first_seen[record.item] = min(first_seen.get(record.item, record.timestamp), record.timestamp)
        times = np.array([i.timestamp if i.timestamp is not None else first_seen.get(i.id, -np.inf) for i in items], dtype=np.float64)
        self._rank(items, times, popularity(feedback, [i.id for i in items]))
        return self

    def _rank(self, items: list[Item], times: np.ndarray, clicks: np.ndarray) -> None:
        self.times_, self.clicks_ = times, clicks
        # Rank by time, then clicks: the rank order encodes both in one sortable score in (0, 1].
        order = np.lexsort((-clicks, -times))
        scores = np.empty(len(items))
        scores[order] = np.arange(len(items), 0, -1, dtype=np.float64) / max(len(items), 1)
        self._set_scores(items, scores)

    def add_feedback(self, feedback: Iterable[Feedback]) -> RecentRecommender:
        """New clicks reorder equally new items at once."""
        clicks = popularity(feedback, self.item_ids_)
        if clicks.any():
            self._rank(list(self.items_.values()), self.times_, self.clicks_ + clicks)
        return self

    def add_items(self, items: Iterable[Item], *, now: float | None = None) -> RecentRecommender:
        new = [i for i in items if i.id not in self.items_]
        now = time.time() if now is None else now
        times = np.array([i.timestamp if i.timestamp is not None else now for i in new], dtype=np.float64)
        self._rank([*self.items_.values(), *new], np.concatenate([self.times_, times]), np.concatenate([self.clicks_, np.zeros(len(new))]))
        return self


class ContentRecommender:
    """Frozen-encoder content similarity (see the module docstring).

    ``embedder``: the encoder of the item vectors, also used for new items and profile
    texts (default: the packaged MiniLM, loaded on first use). ``half_life``: a click
    ``half_life`` seconds older than the user's latest click weighs half as much in the user
    vector (None: a plain mean). ``fallback``: the recommender for users with neither clicks
    nor a profile text, fitted in ``fit`` on the same data (default: popular).
    """

    source = "content"

    def __init__(self, embedder: Embedder | None = None, *, half_life: float | None = DEFAULT_HALF_LIFE,
                 max_history: int = MAX_HISTORY, fallback: _RankedCatalogue | None = None):
        self.embedder = embedder
        self.half_life = half_life
        self.max_history = max_history
        self.fallback = fallback

    def fit(self, items: Iterable[Item], feedback: Iterable[Feedback], *, vectors: np.ndarray | None = None,
            show_progress: bool = False) -> ContentRecommender:
        """Index the items (``vectors``: their precomputed embeddings, rows in item order)."""
        items, feedback = list(items), list(feedback)
        if not items:
            raise DataError("no items to recommend")
        if vectors is None:
            vectors = self._embedder.encode([i.document for i in items], show_progress=show_progress)
        metadata = {"encoder": self._embedder.name} if self.embedder is not None else {}
        self.index_ = VectorIndex(np.asarray(vectors).shape[1], metadata=metadata)
        self.items_: dict[str, Item] = {}
        self.vectors_ = np.zeros((0, self.index_.dim), np.float32)
        self._row: dict[str, int] = {}
        self._add(items, vectors)
        self.histories_: dict[str, list[Feedback]] = {}
        self.seen_: dict[str, set[str]] = {}
        self.add_feedback(feedback)
        self.fallback_ = self.fallback if self.fallback is not None else PopularRecommender()
        self.fallback_.fit(items, feedback)
        return self

    @property
    def _embedder(self) -> Embedder:
        if self.embedder is None:
            self.embedder = Embedder()
        return self.embedder

    def _add(self, items: list[Item], vectors) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(vectors) != len(items):
            raise DataError(f"got {len(vectors)} vectors for {len(items)} items")
        self.index_.add([i.id for i in items], vectors)  # checks shape, duplicates, finiteness
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        for item in items:
            self._row[item.id] = len(self.items_)
            self.items_[item.id] = item
        self.vectors_ = np.vstack([self.vectors_, unit])

    def add_items(self, items: Iterable[Item], vectors: np.ndarray | None = None) -> ContentRecommender:
        """Embed and index new items: recommendable at once, before anyone clicks them."""
        items = [i for i in items if i.id not in self.items_]
        if items:
            self._add(items, self._embedder.encode([i.document for i in items]) if vectors is None else vectors)
            self.fallback_.add_items(items)
        return self

    def add_feedback(self, feedback: Iterable[Feedback]) -> ContentRecommender:
        """New feedback moves the user's next recommendations (no refit needed)."""
        for user, records in by_user(feedback).items():
            self.seen_.setdefault(user, set()).update(r.item for r in records)
            clicks = [r for r in records if r.is_click and r.item in self._row]
            if clicks:
                merged = by_user([*self.histories_.get(user, []), *clicks])[user]
                self.histories_[user] = merged[-self.max_history:]
        return self

    def user_vector(self, history: Sequence[str], times: Sequence[float] | None = None) -> np.ndarray | None:
        """Recency-weighted mean of the history's item vectors (unknown items skipped); None
        when nothing in the history is known."""
        pairs = [(self._row[item], None if times is None else times[k]) for k, item in enumerate(history) if item in self._row]
        pairs = pairs[-self.max_history:]
        if not pairs:
            return None
        rows = np.fromiter((r for r, _ in pairs), np.int64, len(pairs))
        weights = np.ones(len(pairs))
        if self.half_life is not None and times is not None:
            stamps = np.array([t for _, t in pairs], dtype=np.float64)
            weights = np.power(0.5, (stamps.max() - stamps) / self.half_life)
        vector = weights @ self.vectors_[rows]
        norm = np.linalg.norm(vector)
        # Opposite directions can cancel to zero: then this history says nothing usable.
        return vector / norm if norm > 1e-9 else None

    def _query(self, user: str | None, history, times, profile_text: str | None) -> tuple[np.ndarray | None, str]:
        if history is None and user is not None and user in self.histories_:
            records = self.histories_[user]
            history, times = [r.item for r in records], [r.timestamp for r in records]
            times = None if None in times else times
        vector = self.user_vector(history or (), times)
        if vector is not None:
            return vector, self.source
        if profile_text and profile_text.strip():
            return self._embedder.encode([profile_text])[0], "profile"
        return None, self.fallback_.source

    def score(self, candidates: Sequence[str], *, user: str | None = None, history: Sequence[str] | None = None,
              times: Sequence[float] | None = None, profile_text: str | None = None) -> Scores:
        """Cosine between the user (from ``user``'s stored clicks, or an explicit ``history``)
        and each candidate; the fallback's scores when there is no user vector."""
        unknown = [c for c in candidates if c not in self._row]
        if unknown:
            raise DataError(f"unknown item(s): {', '.join(map(str, unknown[:5]))}")
        vector, source = self._query(user, history, times, profile_text)
        if vector is None:
            return Scores(self.fallback_.score(candidates), source)
        rows = np.fromiter((self._row[c] for c in candidates), np.int64, len(candidates))
        return Scores(self.vectors_[rows] @ vector.astype(np.float32), source)

    def recommend(self, user: str | None = None, n: int = 10, *, history: Sequence[str] | None = None,
                  times: Sequence[float] | None = None, profile_text: str | None = None, exclude_seen: bool = True,
                  categories: Collection[str] | None = None, hidden: Collection[str] = ()) -> list[Recommendation]:
        n = _check_n(n)
        exclude = set(self.seen_.get(user, ())) if exclude_seen and user is not None else set()
        if exclude_seen and history is not None:
            exclude.update(history)
        vector, source = self._query(user, history, times, profile_text)
        if vector is None:
            return self.fallback_.recommend(n, exclude=exclude, categories=categories, hidden=hidden)
        # Ask the index for more than n, since filters drop some; widen until n pass or all were seen.
        k = n + len(exclude) + len(hidden) + 10
        while True:
            hits = self.index_.search(vector, k=min(k, len(self.index_)))[0]
            kept = [Recommendation(h.id, h.score, source) for h in hits
                    if _keep(self.items_.get(h.id), exclude, categories, hidden)]
            if len(kept) >= n or k >= len(self.index_):
                return kept[:n]
            k *= 4
