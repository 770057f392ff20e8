"""Ranking signals that do not read text: how popular an item is, how new, how well its
categories match what the user clicks, and how it is rated.

Each function returns one float per id in ``item_ids`` (a numpy array in that order), so a
ranker can stack them as columns beside the click probability. Feedback about items not in
``item_ids`` is ignored; items without feedback get 0 (or the prior, for the mean value).
Times are Unix seconds; half-lives are in seconds too (``DAY`` helps).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from scipy import sparse

from shared.errors import DataError

from .records import Feedback, Item

DAY = 86_400.0


def _positions(item_ids: Sequence[str]) -> dict[str, int]:
    positions = {item: i for i, item in enumerate(item_ids)}
    if len(positions) != len(item_ids):
        raise DataError("item_ids must not repeat")
    return positions


def _decay(age: np.ndarray, half_life: float) -> np.ndarray:
    if half_life <= 0:
        raise DataError(f"half_life must be positive, got {half_life}")
    # A record from the "future" of ``now`` counts as new, not as more than new.
    return np.power(0.5, np.maximum(age, 0.0) / half_life)


def _feedback_columns(feedback: Iterable[Feedback], positions: dict[str, int], clicks_only: bool):
    rows = [(positions[r.item], r.value, r.timestamp) for r in feedback if r.item in positions and (r.is_click or not clicks_only)]
    index = np.fromiter((p for p, _, _ in rows), np.int64, len(rows))
    values = np.fromiter((v for _, v, _ in rows), np.float64, len(rows))
    times = np.fromiter((np.nan if t is None else t for _, _, t in rows), np.float64, len(rows))
    return index, values, times


def popularity(
    feedback: Iterable[Feedback], item_ids: Sequence[str], *, now: float | None = None, half_life: float | None = None,
    clicks_only: bool = True,
) -> np.ndarray:
    """Clicks per item; with ``half_life``, each click weighted by 0.5 ** (age / half_life) at
    ``now`` (default: the latest click), so last week's hits outrank last year's."""
    positions = _positions(item_ids)
    index, _, times = _feedback_columns(feedback, positions, clicks_only)
    if half_life is None:
        weights = np.ones(len(index))
    else:
        if np.isnan(times).any():
            raise DataError("time-decayed popularity needs a timestamp on every counted record")
        now = float(times.max()) if now is None and len(times) else now
        weights = _decay(now - times, half_life) if len(times) else times
    return np.bincount(index, weights=weights, minlength=len(positions)).astype(np.float64)


def item_recency(items: Iterable[Item], item_ids: Sequence[str], *, now: float, half_life: float) -> np.ndarray:
    """0.5 ** (age / half_life) of each item at ``now``: 1 for a brand-new item, 0 when the
    item's time is unknown (it cannot be promoted as new)."""
    positions = _positions(item_ids)
    result = np.zeros(len(positions))
    known = [(positions[i.id], i.timestamp) for i in items if i.id in positions and i.timestamp is not None]
    if known:
        index = np.fromiter((p for p, _ in known), np.int64, len(known))
        times = np.fromiter((t for _, t in known), np.float64, len(known))
        result[index] = _decay(now - times, half_life)
    return result


def mean_feedback(feedback: Iterable[Feedback], item_ids: Sequence[str], *, prior_weight: float = 5.0) -> np.ndarray:
    """Each item's mean feedback value, shrunk towards the mean of all values as if it had
    ``prior_weight`` extra average ratings: one 5-star rating must not top the catalogue.
    Items without feedback get the overall mean."""
    if prior_weight < 0:
        raise DataError(f"prior_weight must be >= 0, got {prior_weight}")
    positions = _positions(item_ids)
    index, values, _ = _feedback_columns(feedback, positions, clicks_only=False)
    prior = float(values.mean()) if len(values) else 0.0
    sums = np.bincount(index, weights=values, minlength=len(positions))
    counts = np.bincount(index, minlength=len(positions))
    with np.errstate(invalid="ignore"):
        smoothed = (sums + prior_weight * prior) / (counts + prior_weight)
    return np.where(counts + prior_weight > 0, smoothed, prior)


class CategoryAffinity:
    """Share of a user's clicks that fall in a candidate's categories.

    Fitted on the catalogue once (an items x categories 0/1 matrix); an item sharing at
    least one category with a clicked item counts that click. Items without categories
    score 0, as does everything for a user without history.
    """

    def fit(self, items: Iterable[Item]) -> CategoryAffinity:
        items = list(items)
        self.positions_ = _positions([i.id for i in items])
        self.categories_ = sorted({c for i in items for c in i.categories})
        column = {c: j for j, c in enumerate(self.categories_)}
        rows = [(r, column[c]) for r, i in enumerate(items) for c in i.categories]
        data = np.ones(len(rows), np.float32)
        self.matrix_ = sparse.csr_matrix(
            (data, ([r for r, _ in rows], [c for _, c in rows])), shape=(len(items), len(self.categories_))
        )
        return self

    def add_items(self, items: Iterable[Item]) -> CategoryAffinity:
        """Rows for items that arrived after ``fit`` (a category new to the catalogue matches no click yet)."""
        column = {c: j for j, c in enumerate(self.categories_)}
        new = [i for i in items if i.id not in self.positions_]
        if not new:
            return self
        cells = [(r, column[c]) for r, i in enumerate(new) for c in i.categories if c in column]
        added = sparse.csr_matrix((np.ones(len(cells), np.float32), ([r for r, _ in cells], [c for _, c in cells])),
                                  shape=(len(new), len(self.categories_)))
        for item in new:
            self.positions_[item.id] = len(self.positions_)
        self.matrix_ = sparse.vstack([self.matrix_, added], format="csr")
        return self

    def _rows(self, ids: Sequence[str]) -> sparse.csr_matrix:
        known = [self.positions_[i] for i in ids if i in self.positions_]
        if len(known) != len(ids):
            # Unknown ids keep their place as an empty row: no categories, no affinity.
            picked = sparse.lil_matrix((len(ids), self.matrix_.shape[1]), dtype=np.float32)
            for r, i in enumerate(ids):
                if i in self.positions_:
                    picked[r] = self.matrix_[self.positions_[i]]
            return picked.tocsr()
        return self.matrix_[known]

    def transform(self, history: Sequence[str], candidate_ids: Sequence[str]) -> np.ndarray:
        if not hasattr(self, "matrix_"):
            raise DataError("CategoryAffinity is not fitted: call fit(items) first")
        if len(history) == 0 or len(candidate_ids) == 0:
            return np.zeros(len(candidate_ids))
        shared = self._rows(candidate_ids) @ self._rows(history).T  # (candidates, clicks): categories in common
        return np.asarray((shared > 0).sum(axis=1), dtype=np.float64).ravel() / len(history)
