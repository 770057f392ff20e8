"""Implicit matrix factorisation (ALS from the ``implicit`` package): the collaborative baseline.

Fitted on the users' clicks (a 0/1 user x item matrix, confidence ``1 + alpha``). A user is
scored from a history of clicked items by solving for the user's factors against the fixed item
factors (``recalculate_user``), so the same code scores a known user, a user seen only through
an evaluation row's history (Amazon), and a brand-new user's first clicks. Items never clicked
in training (cold-start items) have no factors worth the name: they score 0 and are ranked by
the fallback's order among themselves. ``source`` is ``als``, or the fallback's source for a
user without any known click.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from scipy import sparse

from shared.errors import DataError

from .baselines import PopularRecommender, Scores
from .records import Feedback, Item


class ALSRecommender:
    source = "als"

    def __init__(self, *, factors: int = 32, regularization: float = 1.0, alpha: float = 1.0,
                 iterations: int = 15, seed: int = 0, threads: int = 2):
        self.factors, self.regularization, self.alpha = factors, regularization, alpha
        self.iterations, self.seed, self.threads = iterations, seed, threads

    def fit(self, items: Iterable[Item], feedback: Iterable[Feedback], *,
            sequences: Iterable[Sequence[str]] = (), show_progress: bool = False) -> ALSRecommender:
        """``feedback``: clicks count, other types are ignored. ``sequences``: extra per-user item
        lists (e.g. Amazon rows' histories), each counted as that row's user's clicks."""
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        items, feedback = list(items), list(feedback)
        if not items:
            raise DataError("no items to factorise")
        self.item_ids_ = [i.id for i in items]
        self._position = {item: k for k, item in enumerate(self.item_ids_)}
        users: dict[str, set[int]] = {}
        for record in feedback:
            if record.is_click and record.item in self._position:
                users.setdefault(record.user, set()).add(self._position[record.item])
        for k, sequence in enumerate(sequences):
            users.setdefault(f"\0seq{k}", set()).update(self._position[i] for i in sequence if i in self._position)
        rows = [(u, i) for u, (_, clicked) in enumerate(users.items()) for i in clicked]
        matrix = sparse.csr_matrix((np.ones(len(rows), np.float32), ([u for u, _ in rows], [i for _, i in rows])),
                                   shape=(max(len(users), 1), len(items)))
        self.fallback_ = PopularRecommender().fit(items, feedback)
        with threadpool_limits(1, "blas"):  # implicit's advice: BLAS threads fight its own
            model = AlternatingLeastSquares(factors=self.factors, regularization=self.regularization, alpha=self.alpha,
                                            iterations=self.iterations, random_state=self.seed, num_threads=self.threads)
            model.fit(matrix, show_progress=show_progress)
        self.model_ = model
        self.trained_ = np.asarray(matrix.sum(axis=0)).ravel() > 0
        return self

    def user_factors(self, history: Sequence[str]) -> np.ndarray | None:
        known = sorted({self._position[i] for i in history if i in self._position})
        if not known:
            return None
        row = sparse.csr_matrix((np.ones(len(known), np.float32), ([0] * len(known), known)), shape=(1, len(self.item_ids_)))
        return np.asarray(self.model_.recalculate_user(0, row)).ravel()

    def score(self, candidates: Sequence[str], *, history: Sequence[str] = ()) -> Scores:
        """Dot product of the user's factors (from ``history``) and each candidate's; items
        without factors get 0 plus a tiny popularity term, so they tie-break by popularity."""
        factors = self.user_factors(history)
        popular = self.fallback_.score(candidates)
        if factors is None:
            return Scores(popular, self.fallback_.source)
        positions = np.array([self._position.get(c, -1) for c in candidates])
        known = positions >= 0
        values = np.zeros(len(candidates))
        values[known] = self.model_.item_factors[positions[known]] @ factors
        values[known & ~self.trained_[np.maximum(positions, 0)]] = 0.0
        return Scores(values + 1e-9 * popular / (popular.max() + 1.0), self.source)
