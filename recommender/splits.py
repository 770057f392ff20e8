"""Evaluation cases: for one user, candidates to rank, which of them were clicked, and the
user's history before them. Three ways to build them, one per protocol:

- ``impression_cases``: a user's items in the later period form one impression, clicked or
  not (MIND's protocol; for MovieLens the items a user rated later, rating >= 4 a click).
  It asks the hard question: among what the user chose to look at, which did they like?
- ``sampled_negative_cases``: each later click against n items the user never touched,
  sampled with a fixed seed (the NCF / leave-one-out protocol; HR@10 among 1 + 99).
- ``next_item_cases``: each next item against the whole catalogue (Amazon 2018 rows).

``temporal_split`` makes the earlier / later periods per user where a source has no split.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from shared.errors import DataError

from .records import Feedback, Impression, NextItemCase


@dataclass(frozen=True, eq=False)
class EvalCase:
    user: str
    candidates: tuple[str, ...]
    labels: np.ndarray  # 1 = clicked, aligned with candidates
    history: tuple[str, ...] = ()  # the user's earlier clicks, oldest first
    history_times: tuple[float, ...] | None = field(default=None)  # their times where known

    def __post_init__(self):
        labels = np.asarray(self.labels, dtype=np.int8)
        if labels.shape != (len(self.candidates),):
            raise DataError(f"user {self.user}: {len(labels)} labels for {len(self.candidates)} candidates")
        if self.history_times is not None and len(self.history_times) != len(self.history):
            raise DataError(f"user {self.user}: {len(self.history_times)} history times for {len(self.history)} items")
        labels.setflags(write=False)
        object.__setattr__(self, "labels", labels)


def _time_key(record: Feedback) -> tuple:
    # Records without a time go first: they are "before the log" (e.g. imported histories).
    return (record.timestamp is not None, record.timestamp or 0.0, record.item)


def by_user(feedback: Iterable[Feedback]) -> dict[str, list[Feedback]]:
    """Each user's feedback, oldest first (ties by item id, so the order is reproducible)."""
    users: dict[str, list[Feedback]] = defaultdict(list)
    for record in feedback:
        users[record.user].append(record)
    return {user: sorted(records, key=_time_key) for user, records in users.items()}


def click_histories(feedback: Iterable[Feedback]) -> dict[str, tuple[tuple[str, ...], tuple[float, ...] | None]]:
    """user -> (clicked items oldest first, their times or None when any is missing)."""
    result = {}
    for user, records in by_user(r for r in feedback if r.is_click).items():
        times = tuple(r.timestamp for r in records)
        result[user] = (tuple(r.item for r in records), None if None in times else times)
    return result


def temporal_split(feedback: Iterable[Feedback], test_fraction: float = 0.2) -> tuple[list[Feedback], list[Feedback]]:
    """Per user, the latest ``max(1, round(test_fraction * n))`` records go to test; users with
    a single record stay in train (nothing earlier to learn them from)."""
    if not 0 < test_fraction < 1:
        raise DataError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    train, test = [], []
    for records in by_user(feedback).values():
        cut = len(records) - max(1, round(test_fraction * len(records))) if len(records) > 1 else len(records)
        train.extend(records[:cut])
        test.extend(records[cut:])
    return train, test


def impression_cases(train: Iterable[Feedback], test: Iterable[Feedback]) -> list[EvalCase]:
    """One case per test user with at least one click: their test items, clicked or not."""
    histories = click_histories(train)
    cases = []
    for user, records in by_user(test).items():
        clicked: dict[str, int] = {}
        for record in records:
            clicked[record.item] = max(clicked.get(record.item, 0), int(record.is_click))
        if any(clicked.values()) and len(clicked) >= 2:
            history, times = histories.get(user, ((), None))
            cases.append(EvalCase(user, tuple(clicked), np.fromiter(clicked.values(), np.int8), history, times))
    return cases


def cases_from_impressions(impressions: Iterable[Impression], history_feedback: Iterable[Feedback]) -> list[EvalCase]:
    """MIND: each impression with a click is a case; the history is the user's clicks before it."""
    histories = by_user(r for r in history_feedback if r.is_click)
    cases = []
    for impression in impressions:
        if not impression.clicked or len(impression.shown) < 2:
            continue
        earlier = [r for r in histories.get(impression.user, []) if impression.timestamp is None or r.timestamp is None or r.timestamp < impression.timestamp]
        times = tuple(r.timestamp for r in earlier)
        cases.append(EvalCase(impression.user, impression.shown, np.array(impression.labels, np.int8),
                              tuple(r.item for r in earlier), None if None in times else times))
    return cases


def sampled_negative_cases(
    train: Iterable[Feedback], test: Iterable[Feedback], catalogue: Sequence[str], *, n_negatives: int = 99, seed: int = 0
) -> list[EvalCase]:
    """One case per test click: the clicked item first, then ``n_negatives`` catalogue items the
    user has no feedback on in either period, drawn without replacement (fewer if the catalogue
    runs out)."""
    if n_negatives < 1:
        raise DataError(f"n_negatives must be at least 1, got {n_negatives}")
    train, test = list(train), list(test)
    rng = np.random.default_rng(seed)
    catalogue = np.asarray(list(dict.fromkeys(catalogue)), dtype=object)
    seen: dict[str, set[str]] = defaultdict(set)
    for record in (*train, *test):
        seen[record.user].add(record.item)
    histories = click_histories(train)
    cases = []
    for user, records in by_user(test).items():
        unseen = catalogue[[item not in seen[user] for item in catalogue]]
        if len(unseen) == 0:
            continue
        history, times = histories.get(user, ((), None))
        for item in dict.fromkeys(r.item for r in records if r.is_click):
            negatives = rng.choice(unseen, size=min(n_negatives, len(unseen)), replace=False)
            labels = np.zeros(len(negatives) + 1, np.int8)
            labels[0] = 1
            cases.append(EvalCase(user, (item, *negatives), labels, history, times))
    return cases


def next_item_cases(rows: Iterable[NextItemCase], catalogue: Sequence[str]) -> list[EvalCase]:
    """Each row's next item against the whole catalogue (history items included: people re-buy)."""
    catalogue = tuple(dict.fromkeys(catalogue))
    position = {item: i for i, item in enumerate(catalogue)}
    cases = []
    for row in rows:
        if row.item not in position:
            raise DataError(f"user {row.user}: next item {row.item!r} is not in the catalogue")
        labels = np.zeros(len(catalogue), np.int8)
        labels[position[row.item]] = 1
        # Positions stand in for times: the history is in order, oldest first.
        cases.append(EvalCase(row.user, catalogue, labels, row.history, tuple(float(i) for i in range(len(row.history)))))
    return cases
