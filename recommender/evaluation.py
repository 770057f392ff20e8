"""The evaluation the CLI and the benchmark run: one data set, one split, the click model and
the baselines side by side on the same cases.

- MovieLens (``load_movielens``): the impression protocol, each test user's rated items form one
  impression (rating >= threshold a click), the history is the user's train-period clicks.
- Amazon 2018 (``load_amazon``): each test row's next item against the whole catalogue, history
  from the row (oldest first).

Baselines: ``popularity`` (train clicks), ``als`` (implicit ALS on train clicks, the user solved
from the case's history) and ``content`` (frozen encoder, user = recency-weighted mean of the
history's item vectors; the vectors cached in ``var/cache/recommender``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from shared.errors import DataError

from .metrics import evaluate_scores
from .records import Feedback, Item, NextItemCase
from .splits import EvalCase, impression_cases, next_item_cases

METRICS = ("auc", "mrr", "ndcg@5", "ndcg@10", "hit@10")
KS = (5, 10)
DAY = 86_400.0


@dataclass
class Dataset:
    kind: str  # "movielens" or "amazon"
    items: list[Item]
    train: list[Feedback]
    rows: list[NextItemCase] = field(default_factory=list)  # amazon: the train rows
    test_feedback: list[Feedback] = field(default_factory=list)
    test_rows: list[NextItemCase] = field(default_factory=list)
    reports: list = field(default_factory=list)

    def cases(self) -> list[EvalCase]:
        if self.kind == "movielens":
            cases = impression_cases(self.train, self.test_feedback)
        else:
            cases = next_item_cases(self.test_rows, [i.id for i in self.items])
        if not cases:
            raise DataError("the test file gives no evaluation case (no user with a click and a second item)")
        return cases

    def summary(self) -> str:
        return "; ".join(r.summary() for r in self.reports)


def _no_rows_check(result, path: Path) -> None:
    report = result.reports[-1]
    if report.imported == 0:
        raise DataError(f"{path}: no usable rows ({report.summary()})")


def load_movielens(directory, train_path, test_path=None, *, threshold: float = 4.0) -> Dataset:
    """Items from ``directory`` (movies.csv, tags*.csv: only files named like the train period's
    tags or plain tags.csv when no test file is given), feedback from the rating files."""
    from .importers import import_movielens

    directory = Path(directory)
    if not (directory / "movies.csv").is_file():
        raise DataError(f"{directory}: no movies.csv (expected a MovieLens folder)")
    tags = sorted(directory.glob("tags*.csv"))
    train = import_movielens(directory, ratings=[train_path], tags=tags, threshold=threshold)
    _no_rows_check(train, Path(train_path))
    data = Dataset("movielens", train.items, train.feedback, reports=list(train.reports))
    if test_path is not None:
        test = import_movielens(directory, ratings=[test_path], tags=[], threshold=threshold)
        _no_rows_check(test, Path(test_path))
        data.test_feedback = test.feedback
        data.reports.append(test.reports[-1])
    return data


def load_amazon(items_path, train_path, test_path=None) -> Dataset:
    from .importers import import_amazon

    paths = [train_path] + ([test_path] if test_path is not None else [])
    result = import_amazon(items_path, *paths)
    if not result.items:
        raise DataError(f"{items_path}: no items ({result.reports[0].summary()})")
    n_train = result.reports[1].imported
    if n_train == 0:
        raise DataError(f"{train_path}: no usable rows ({result.reports[1].summary()})")
    data = Dataset("amazon", result.items, result.feedback[:n_train], rows=result.cases[:n_train], reports=list(result.reports))
    if test_path is not None:
        if result.reports[2].imported == 0:
            raise DataError(f"{test_path}: no usable rows ({result.reports[2].summary()})")
        data.test_rows = result.cases[n_train:]
    return data


def _positions(items):
    return {item.id: k for k, item in enumerate(items)}


def baseline_scorers(data: Dataset, *, progress: bool = True, content: bool = True) -> dict:
    """name -> score(case), fitted on the train period."""
    from shared.embeddings import Embedder

    from .als import ALSRecommender
    from .baselines import ContentRecommender, PopularRecommender
    from .vector_cache import cached_item_vectors

    position = _positions(data.items)
    ids = [i.id for i in data.items]
    popular = PopularRecommender().fit(data.items, data.train).score(ids)
    sequences = [(*r.history, r.item) for r in data.rows]
    als = ALSRecommender().fit(data.items, data.train, sequences=sequences)
    result = {
        "popularity": lambda case: popular[[position[c] for c in case.candidates]],
        "als": lambda case: als.score(case.candidates, history=case.history).values,
    }
    if content:
        vectors, _ = cached_item_vectors(data.items, Embedder(), show_progress=progress)
        half_life = 30 * DAY if data.kind == "movielens" else 3.0
        recommender = ContentRecommender(half_life=half_life).fit(data.items, data.train, vectors=vectors)
        result["content"] = lambda case: recommender.score(case.candidates, history=case.history, times=case.history_times).values
    return result


def model_scorer(model, data: Dataset):
    model.refit_behaviour(data.items, data.train, rows=data.rows or None)
    return lambda case: model.score(case.candidates, history=case.history, user=case.user).values


def evaluate(model, data: Dataset, *, seed: int = 0, progress: bool = True, baselines: bool = True,
             content: bool = True) -> dict:
    """``{auc, mrr, ndcg@5, ndcg@10, hit@10, cases, users, seconds, baselines: {name: {...}}}``."""
    from tqdm.auto import tqdm

    cases = data.cases()
    scorers = {"model": model_scorer(model, data)}
    if baselines:
        scorers.update(baseline_scorers(data, progress=progress, content=content))
    results = {}
    for name, score in scorers.items():
        start = time.perf_counter()
        bar = tqdm(cases, desc=f"scoring {name}", disable=not progress, leave=False)
        metrics = evaluate_scores(bar, score, ks=KS, by="case", seed=seed)
        results[name] = {k: round(float(metrics[k]), 4) for k in METRICS}
        results[name].update(cases=metrics["cases"], users=metrics["users"], seconds=round(time.perf_counter() - start, 1))
    report = dict(results.pop("model"))
    report["protocol"] = "impression" if data.kind == "movielens" else "next-item, whole catalogue"
    if baselines:
        report["baselines"] = results
        best = {k: max(r[k] for r in results.values()) for k in METRICS}
        report["margin_over_best_baseline"] = {k: round(report[k] - best[k], 4) for k in METRICS}
    return report


def summary_line(report: dict) -> str:
    line = (f"{report['cases']} cases ({report['protocol']}): AUC {report['auc']:.4f}, nDCG@10 {report['ndcg@10']:.4f}, "
            f"hit@10 {report['hit@10']:.4f}")
    if "baselines" in report:
        best = max(report["baselines"], key=lambda k: report["baselines"][k]["auc"])
        line += f"; best baseline by AUC: {best} {report['baselines'][best]['auc']:.4f}"
    return line
