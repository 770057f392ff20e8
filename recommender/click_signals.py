"""The click model's inputs for (user history, candidates): text signals from the fine-tuned
item vectors, and behaviour signals from ``features.py`` plus order-aware ones.

``BehaviourStats`` is what the click model learns from feedback without reading text:
popularity, each item's mean feedback, its age, category affinity, last-item transitions
(how often b followed a in the fitted sequences: repeat purchases and accessories) and each
user's disliked items. It is a plain-JSON state (``to_json`` / ``from_json``), refitted on the
latest feedback at every retrain. ``signals`` stacks every column for one case.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import sparse

from .features import DAY, CategoryAffinity, item_recency, mean_feedback, popularity
from .records import Feedback, Item

TEXT_SIGNALS = ("text_cos", "text_neg_cos", "last_cos", "max_cos", "text_rating")
BEHAVIOUR_SIGNALS = ("log_popularity", "mean_feedback", "recency", "affinity", "log_transition", "repeat")
SIGNALS = TEXT_SIGNALS + BEHAVIOUR_SIGNALS
MAX_HISTORY = 50
MAX_VIEWS = 50
RECENT = 5  # how many of the latest clicks max_cos looks at
AGE_HALF_LIFE = 3650 * DAY  # an item ten years older than the newest weighs half as new


class BehaviourStats:
    def fit(self, items: Sequence[Item], feedback: Iterable[Feedback], sequences: Iterable[tuple[str, Sequence[str]]]) -> BehaviourStats:
        """``sequences``: (user, item ids oldest first) whose consecutive pairs count as transitions."""
        feedback = list(feedback)
        ids = [i.id for i in items]
        self.item_ids = ids
        self.popularity = popularity(feedback, ids)
        values = [r.value for r in feedback]
        self.has_values = len(set(values)) > 1
        self.mean_feedback = mean_feedback(feedback, ids) if self.has_values else np.zeros(len(ids))
        stamps = [i.timestamp for i in items if i.timestamp is not None]
        self.now = max(stamps) if stamps else 0.0
        self.recency = item_recency(items, ids, now=self.now, half_life=AGE_HALF_LIFE) if stamps else np.zeros(len(ids))
        seen_pairs, counts = set(), Counter()
        for user, sequence in sequences:
            for a, b in zip(sequence, sequence[1:]):
                if (user, a, b) not in seen_pairs:
                    seen_pairs.add((user, a, b))
                    counts[a, b] += 1
        self.transitions = {f"{a}\t{b}": n for (a, b), n in counts.items()}
        views: dict[str, list[str]] = defaultdict(list)
        for record in sorted((r for r in feedback if not r.is_click), key=lambda r: (r.timestamp or 0.0)):
            views[record.user].append(record.item)
        self.views = {u: v[-MAX_VIEWS:] for u, v in views.items()}
        self._finish(items)
        return self

    def _finish(self, items: Sequence[Item]) -> None:
        self.position = {item: k for k, item in enumerate(self.item_ids)}
        self.affinity = CategoryAffinity().fit(items)
        rows, cols, data = [], [], []
        for key, n in self.transitions.items():
            a, b = key.split("\t")
            if a in self.position and b in self.position:
                rows.append(self.position[a])
                cols.append(self.position[b])
                data.append(float(n))
        size = len(self.item_ids)
        self.transition_matrix = sparse.csr_matrix((data, (rows, cols)), shape=(size, size))

    def to_json(self) -> dict:
        return {"item_ids": self.item_ids, "popularity": self.popularity.tolist(), "has_values": self.has_values,
                "mean_feedback": self.mean_feedback.tolist(), "recency": self.recency.tolist(), "now": self.now,
                "transitions": self.transitions, "views": self.views}

    @classmethod
    def from_json(cls, state: dict, items: Sequence[Item]) -> BehaviourStats:
        stats = cls()
        stats.item_ids = list(state["item_ids"])
        for name in ("popularity", "mean_feedback", "recency"):
            setattr(stats, name, np.asarray(state[name], dtype=np.float64))
        stats.has_values, stats.now = bool(state["has_values"]), float(state["now"])
        stats.transitions = {str(k): int(v) for k, v in state["transitions"].items()}
        stats.views = {str(u): [str(i) for i in v] for u, v in state["views"].items()}
        by_id = {i.id: i for i in items}
        stats._finish([by_id.get(i, Item(i, i)) for i in stats.item_ids])
        return stats

    def rows(self, candidates: Sequence[str]) -> np.ndarray:
        """Each candidate's row in the statistics' arrays, -1 for an item they do not know."""
        position = self.position
        return np.fromiter((position.get(c, -1) for c in candidates), np.int64, len(candidates))

    def column(self, values: np.ndarray, rows: np.ndarray, default: float) -> np.ndarray:
        """``values`` at ``rows`` (from ``rows()``), ``default`` where the item is unknown."""
        known = rows >= 0
        out = np.full(len(rows), default, dtype=np.float64)
        out[known] = values[rows[known]]
        return out


def user_vector(rows: Sequence[int], vectors: np.ndarray, half_life: float | None) -> np.ndarray | None:
    """Recency-weighted mean of the history's item vectors: the k-th latest weighs 0.5 ** (k / half_life)."""
    rows = list(rows)[-MAX_HISTORY:]
    if not rows:
        return None
    weights = np.ones(len(rows)) if half_life is None else np.power(0.5, np.arange(len(rows))[::-1] / half_life)
    vector = weights @ vectors[rows]
    norm = np.linalg.norm(vector)
    return vector / norm if norm > 1e-9 else None


def signals(*, history: Sequence[str], candidate_rows: np.ndarray, candidates: Sequence[str], user: str | None,
            vectors: np.ndarray, rows: dict, stats: BehaviourStats, text_rating: np.ndarray,
            half_life: float | None) -> np.ndarray:
    """(len(candidates), len(SIGNALS)) for one user; ``candidate_rows`` are the candidates' rows
    of ``vectors`` (unit item vectors), ``rows`` maps item id -> row, ``text_rating`` is the
    text-predicted mean feedback of every row."""
    n = len(candidates)
    out = np.zeros((n, len(SIGNALS)))
    cand_vectors = vectors[candidate_rows]
    history_rows = [rows[i] for i in history if i in rows]
    vector = user_vector(history_rows, vectors, half_life)
    if vector is not None:
        out[:, 0] = cand_vectors @ vector
        out[:, 2] = cand_vectors @ vectors[history_rows[-1]]
        out[:, 3] = (cand_vectors @ vectors[history_rows[-RECENT:]].T).max(axis=1)
    views = [rows[i] for i in stats.views.get(user, ()) if i in rows] if user is not None else []
    negative = user_vector(views, vectors, None)
    if negative is not None:
        out[:, 1] = cand_vectors @ negative
    out[:, 4] = text_rating[candidate_rows]
    stat_rows = stats.rows(candidates)
    # An item the statistics do not know arrived after they were counted: no clicks yet says
    # nothing about it (it had no time to get any), so it gets the average, not the minimum.
    average_popularity = float(np.mean(stats.popularity)) if len(stats.popularity) else 0.0
    out[:, 5] = np.log1p(stats.column(stats.popularity, stat_rows, average_popularity))
    prior = float(np.mean(stats.mean_feedback)) if len(stats.mean_feedback) else 0.0
    out[:, 6] = stats.column(stats.mean_feedback, stat_rows, prior)
    out[:, 7] = stats.column(stats.recency, stat_rows, 1.0)  # and it is the newest, not the oldest
    known_history = [i for i in history if i in stats.position][-MAX_HISTORY:]
    if known_history:
        out[:, 8] = stats.affinity.transform(known_history, candidates)
        last = stats.position[known_history[-1]]
        transition_row = stats.transition_matrix.getrow(last).toarray().ravel()
        out[:, 9] = np.log1p(stats.column(transition_row, stat_rows, 0.0))
        counts = Counter(known_history)
        out[:, 10] = [counts.get(c, 0) for c in candidates]
    return out
