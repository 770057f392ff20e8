import numpy as np
import pytest

from recommender.records import CLICK, VIEW, Feedback, Impression, NextItemCase
from recommender.splits import (
    EvalCase,
    cases_from_impressions,
    click_histories,
    impression_cases,
    next_item_cases,
    sampled_negative_cases,
    temporal_split,
)
from shared.errors import DataError

TRAIN = [Feedback("u1", "b", CLICK, 5, 20), Feedback("u1", "a", CLICK, 4, 10), Feedback("u1", "c", VIEW, 2, 30),
         Feedback("u2", "a", VIEW, 1, 5)]
TEST = [Feedback("u1", "d", CLICK, 5, 40), Feedback("u1", "e", VIEW, 3, 41), Feedback("u2", "b", VIEW, 2, 50),
        Feedback("u2", "c", VIEW, 2, 51), Feedback("u3", "a", CLICK, 4, 60)]


def test_click_histories_are_ordered_by_time_and_keep_clicks_only():
    assert click_histories(TRAIN) == {"u1": (("a", "b"), (10, 20))}


def test_temporal_split_keeps_each_users_latest_share_for_test():
    records = [Feedback("u", str(i), CLICK, 1, float(t)) for i, t in enumerate([5, 1, 4, 2, 3])]
    train, test = temporal_split([*records, Feedback("solo", "x", CLICK, 1, 9.0)], test_fraction=0.4)
    assert [r.timestamp for r in test] == [4.0, 5.0]
    assert {r.user for r in train} == {"u", "solo"} and len(train) == 4
    with pytest.raises(DataError):
        temporal_split(records, test_fraction=1.0)


def test_impression_cases_are_each_users_later_items_with_their_history():
    cases = impression_cases(TRAIN, TEST)
    # u2 clicked nothing later and u3 had one item: no ranking question to ask them.
    assert [(c.user, c.candidates, list(c.labels), c.history, c.history_times) for c in cases] == [
        ("u1", ("d", "e"), [1, 0], ("a", "b"), (10, 20))]


def test_sampled_negatives_are_unseen_reproducible_and_one_case_per_click():
    catalogue = [*"abcdefghij"]
    cases = sampled_negative_cases(TRAIN, TEST, catalogue, n_negatives=3, seed=7)
    assert [c.user for c in cases] == ["u1", "u3"]
    u1 = cases[0]
    assert u1.candidates[0] == "d" and list(u1.labels) == [1, 0, 0, 0]
    assert set(u1.candidates[1:]).isdisjoint("abcde") and len(set(u1.candidates)) == 4
    again = sampled_negative_cases(TRAIN, TEST, catalogue, n_negatives=3, seed=7)
    assert [c.candidates for c in again] == [c.candidates for c in cases]
    # Fewer unseen items than asked for: all of them.
    assert len(sampled_negative_cases(TRAIN, TEST, [*"abcdef"], n_negatives=50)[0].candidates) == 2


def test_next_item_cases_rank_against_the_whole_catalogue():
    (case,) = next_item_cases([NextItemCase("u", ("a", "a"), "c", 3.0)], ["a", "b", "c"])
    assert case.candidates == ("a", "b", "c") and list(case.labels) == [0, 0, 1]
    assert case.history == ("a", "a") and case.history_times == (0.0, 1.0)
    with pytest.raises(DataError, match="not in the catalogue"):
        next_item_cases([NextItemCase("u", (), "z")], ["a"])


def test_mind_impressions_become_cases_with_the_clicks_before_them():
    impressions = [Impression("u", ("a", "b"), frozenset({"b"}), 100.0), Impression("u", ("c", "d"), frozenset(), 200.0)]
    history = [Feedback("u", "x", CLICK, 1, 50.0), Feedback("u", "b", CLICK, 1, 100.0)]
    (case,) = cases_from_impressions(impressions, history)
    assert case.history == ("x",) and list(case.labels) == [0, 1]


def test_a_case_checks_its_shapes_and_freezes_its_labels():
    with pytest.raises(DataError, match="2 labels for 1 candidates"):
        EvalCase("u", ("a",), [1, 0])
    case = EvalCase("u", ("a", "b"), [1, 0])
    with pytest.raises(ValueError):
        case.labels[0] = 0
    assert isinstance(case.labels, np.ndarray)
