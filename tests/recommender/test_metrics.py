import math

import numpy as np
import pytest
from sklearn.metrics import ndcg_score, roc_auc_score

from recommender.metrics import average, case_metrics, evaluate_scores, ranks
from recommender.splits import EvalCase
from shared.errors import DataError


def test_one_positive_ranked_third_of_four():
    m = case_metrics([0, 0, 1, 0], [0.9, 0.8, 0.5, 0.1], ks=(1, 3))
    assert m["mrr"] == pytest.approx(1 / 3)
    assert m["auc"] == pytest.approx(1 / 3)  # above one negative of three
    assert m["hit@1"] == 0.0 and m["hit@3"] == 1.0
    assert m["ndcg@1"] == 0.0
    assert m["ndcg@3"] == pytest.approx(1 / math.log2(4))  # ideal DCG is 1


def test_two_positives_follow_mind_definitions():
    # Ranked order: pos, neg, pos, neg.
    m = case_metrics([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1], ks=(2, 5))
    assert m["mrr"] == pytest.approx((1 + 1 / 3) / 2)
    assert m["auc"] == pytest.approx(3 / 4)
    ideal = 1 + 1 / math.log2(3)
    assert m["ndcg@2"] == pytest.approx(1 / ideal)
    assert m["ndcg@5"] == pytest.approx((1 + 1 / math.log2(4)) / ideal)


def test_a_perfect_ranking_scores_one_everywhere():
    m = case_metrics([1, 1, 0, 0, 0], [5, 4, 3, 2, 1])
    assert all(v == pytest.approx(1.0) for name, v in m.items() if name != "mrr")
    # MIND's MRR averages over every click, so even the best order of two clicks gives (1 + 1/2) / 2.
    assert m["mrr"] == pytest.approx(0.75)


def test_ties_are_broken_at_random_so_a_blind_scorer_gets_chance():
    rng = np.random.default_rng(1)
    labels = np.zeros(100)
    labels[0] = 1
    hits = [case_metrics(labels, np.zeros(100), rng=rng)["hit@10"] for _ in range(400)]
    assert 0.06 < np.mean(hits) < 0.14
    blind = case_metrics(labels, np.zeros(100))
    assert blind["auc"] == 0.5 and blind["ndcg@10"] == pytest.approx(np.sum(1 / np.log2(np.arange(2, 12))) / 100)
    assert sorted(ranks([0.5, 0.5, 0.9])) == [1, 2, 3] and ranks([0.5, 0.5, 0.9])[2] == 1


def test_auc_and_ndcg_agree_with_sklearn_including_ties():
    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(2, 40))
        labels = rng.integers(0, 2, n)
        labels[0] = 1
        scores = rng.integers(0, 4, n).astype(float)  # few values: many ties
        m = case_metrics(labels, scores, ks=(3, 10))
        if not labels.all():
            assert m["auc"] == pytest.approx(roc_auc_score(labels, scores))
        for k in (3, 10):
            assert m[f"ndcg@{k}"] == pytest.approx(ndcg_score(labels[None, :], scores[None, :], k=k))


def test_auc_is_nan_without_negatives_and_left_out_of_the_mean():
    assert math.isnan(case_metrics([1, 1], [0.1, 0.2])["auc"])
    result = average([("u1", {"auc": float("nan")}), ("u2", {"auc": 0.5})])
    assert result == {"auc": 0.5, "cases": 2, "users": 2}


def test_users_can_weigh_the_same_however_many_cases_they_have():
    per_case = [("heavy", {"hit@10": 1.0})] * 3 + [("light", {"hit@10": 0.0})]
    assert average(per_case)["hit@10"] == 0.75
    assert average(per_case, by="user")["hit@10"] == 0.5


@pytest.mark.parametrize(
    "labels, scores, message",
    [([1, 0], [0.1], "2 labels for 1 scores"), ([1], [0.1], "at least two"), ([0, 0], [0.1, 0.2], "one positive"),
     ([2, 0], [0.1, 0.2], "0 or 1"), ([1, 0], [np.nan, 0.2], "NaN")],
)
def test_malformed_cases_are_errors(labels, scores, message):
    with pytest.raises(DataError, match=message):
        case_metrics(labels, scores)


def test_k_must_be_positive():
    with pytest.raises(DataError, match="positive integer"):
        case_metrics([1, 0], [0.2, 0.1], ks=(0,))


def test_evaluate_scores_averages_a_scorer_over_cases():
    cases = [EvalCase("u1", ("a", "b", "c"), [0, 1, 0]), EvalCase("u2", ("a", "b", "c"), [1, 0, 0])]
    by_letter = {"a": 0.2, "b": 0.9, "c": 0.1}
    result = evaluate_scores(cases, lambda case: np.array([by_letter[c] for c in case.candidates]), ks=(1,))
    assert result["hit@1"] == 0.5 and result["mrr"] == pytest.approx((1 + 1 / 2) / 2)
    assert (result["cases"], result["users"]) == (2, 2)
