"""Ranking metrics per case (one user's candidates with 0/1 labels) and their averages.

The MIND protocol's four (AUC, MRR, nDCG@5, nDCG@10 per impression), plus hit@k for the
sampled-negative and whole-catalogue protocols. AUC and nDCG give tied candidates their
average, exactly as scikit-learn's ``roc_auc_score`` and ``ndcg_score`` do (the tests hold
them to it); they are computed here in numpy because sklearn's per-call input checks cost
milliseconds, and a benchmark scores tens of thousands of cases. Hit@k and MRR need one
order: ties are broken at random (seeded), so a scorer that cannot tell candidates apart
gets the chance figure (hit@10 = 0.1 among 100) rather than a lucky or unlucky fixed order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
from scipy.stats import rankdata

from shared.errors import DataError

DEFAULT_KS = (5, 10)


def _check(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels, dtype=np.float64).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise DataError(f"got {len(labels)} labels for {len(scores)} scores")
    if len(labels) < 2:
        raise DataError("a ranking case needs at least two candidates")
    if not np.isin(labels, (0.0, 1.0)).all():
        raise DataError("labels must be 0 or 1")
    if not labels.any():
        raise DataError("a ranking case needs at least one positive label")
    if not np.isfinite(scores).all():
        raise DataError("scores contain NaN or infinite values")
    return labels, scores


def ranks(scores, rng: np.random.Generator | None = None) -> np.ndarray:
    """1-based rank of each candidate, best score first, ties in a random (seeded) order."""
    scores = np.asarray(scores, dtype=np.float64)
    rng = rng if rng is not None else np.random.default_rng(0)
    order = np.lexsort((rng.random(len(scores)), -scores))
    result = np.empty(len(scores), dtype=np.int64)
    result[order] = np.arange(1, len(scores) + 1)
    return result


def case_metrics(labels, scores, *, ks: Sequence[int] = DEFAULT_KS, rng: np.random.Generator | None = None) -> dict[str, float]:
    """auc, mrr, ndcg@k and hit@k for one case; auc is NaN when every candidate is positive."""
    labels, scores = _check(labels, scores)
    if any(not isinstance(k, (int, np.integer)) or k < 1 for k in ks):
        raise DataError(f"every k must be a positive integer, got {list(ks)}")
    positive_ranks = ranks(scores, rng)[labels == 1]
    result = {
        "auc": auc(labels, scores),
        # MIND's MRR: the mean reciprocal rank over all clicked items, not just the first.
        "mrr": float(np.mean(1.0 / positive_ranks)),
    }
    for k in ks:
        result[f"ndcg@{k}"] = ndcg_at_k(labels, scores, k)
        result[f"hit@{k}"] = float(positive_ranks.min() <= k)
    return result


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties count a half); NaN without both classes."""
    positives = labels == 1
    n_pos, n_neg = int(positives.sum()), int((~positives).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    rank_sum = rankdata(scores)[positives].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def ndcg_at_k(labels: np.ndarray, scores: np.ndarray, k: int) -> float:
    """nDCG@k with log2 discounts; a group of tied scores shares its mean gain over the
    positions it spans (sklearn's ``ndcg_score`` with ``ignore_ties=False``)."""
    discounts = 1.0 / np.log2(np.arange(len(labels)) + 2.0)
    discounts[k:] = 0.0
    ideal = float(np.sort(labels)[::-1] @ discounts)
    if ideal == 0:
        return 0.0
    groups, inverse = np.unique(-scores, return_inverse=True)  # groups in best-first order
    counts = np.bincount(inverse, minlength=len(groups))
    gains = np.bincount(inverse, weights=labels, minlength=len(groups)) / counts
    spans = np.add.reduceat(discounts, np.concatenate(([0], np.cumsum(counts)[:-1])))
    return float(gains @ spans / ideal)


def average(per_case: Iterable[tuple[str, dict[str, float]]], *, by: str = "case") -> dict[str, float | int]:
    """Mean of each metric over cases (``by="case"``) or over users, each user's cases
    averaged first (``by="user"``, so heavy users do not outweigh the others).

    NaN values (an AUC with no negative) are left out of their metric's mean; ``cases`` and
    ``users`` count what went in.
    """
    if by not in ("case", "user"):
        raise DataError(f"by must be 'case' or 'user', got {by!r}")
    per_case = list(per_case)
    if not per_case:
        raise DataError("no cases to average")
    groups: dict[str, list[dict]] = defaultdict(list)
    for index, (user, metrics) in enumerate(per_case):
        groups[user if by == "user" else str(index)].append(metrics)
    names = list(per_case[0][1])
    units = [{name: _mean([m[name] for m in group]) for name in names} for group in groups.values()]
    result: dict[str, float | int] = {name: _mean([u[name] for u in units]) for name in names}
    result["cases"] = len(per_case)
    result["users"] = len({user for user, _ in per_case})
    return result


def _mean(values: list[float]) -> float:
    values = np.asarray(values, dtype=np.float64)
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if len(kept) else float("nan")


def evaluate_scores(cases, score, *, ks: Sequence[int] = DEFAULT_KS, by: str = "case", seed: int = 0) -> dict[str, float | int]:
    """Average metrics of ``score(case) -> scores`` over ``cases`` (``recommender.splits.EvalCase``)."""
    rng = np.random.default_rng(seed)
    return average(((case.user, case_metrics(case.labels, score(case), ks=ks, rng=rng)) for case in cases), by=by)
