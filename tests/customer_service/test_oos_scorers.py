import numpy as np
import pytest

from customer_service.intent_files import OUT_OF_SCOPE
from customer_service.oos_scorers import CombinedScorer, ConfidenceScorer, KNNScorer, MahalanobisScorer, OOSClassScorer, make_scorer
from customer_service.signals import Signals
from shared.errors import ConfigError, DataError


def clustered(seed=0, per_class=20, dim=8):
    """Two tight clusters on the unit sphere, labelled a and b."""
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:2]
    x = np.concatenate([c + 0.05 * rng.normal(size=(per_class, dim)) for c in centres])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = ["a"] * per_class + ["b"] * per_class
    return Signals(x.astype(np.float32), np.full((len(x), 2), 0.5), ["a", "b"]), labels


@pytest.mark.parametrize("scorer", [KNNScorer(k=3), MahalanobisScorer()], ids=["knn", "mahalanobis"])
def test_distance_scorers_rank_far_points_above_near_ones(scorer):
    train, labels = clustered()
    scorer.fit(train, labels)
    near = np.eye(8)[:2] + 0.01
    far = np.eye(8)[5:7]
    queries = np.concatenate([near, far]).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    scores = scorer.score(Signals(queries, np.full((4, 2), 0.5), ["a", "b"]))
    assert scores[2:].min() > scores[:2].max()


def test_distance_scorers_ignore_out_of_scope_training_rows():
    train, labels = clustered()
    labels = labels[:-1] + [OUT_OF_SCOPE]
    scorer = KNNScorer(k=1).fit(train, labels)
    assert len(scorer.vectors_) == len(labels) - 1


def test_knn_scores_one_minus_the_kth_cosine_similarity_exactly_and_in_chunks(monkeypatch):
    import customer_service.oos_scorers as oos_scorers

    rng = np.random.default_rng(0)
    train = rng.normal(size=(50, 8)).astype(np.float32)
    train /= np.linalg.norm(train, axis=1, keepdims=True)
    queries = rng.normal(size=(7, 8)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    expected = 1.0 - np.sort(queries @ train.T, axis=1)[:, -3]
    monkeypatch.setattr(oos_scorers, "KNN_CHUNK", 2)  # several chunks, the last one short
    scorer = KNNScorer(k=3).fit(Signals(train, np.full((50, 1), 1.0), ["a"]), ["a"] * 50)
    np.testing.assert_allclose(scorer.score(Signals(queries, np.full((7, 1), 1.0), ["a"])), expected, rtol=1e-6)
    few = KNNScorer(k=10).fit(Signals(train[:4], np.full((4, 1), 1.0), ["a"]), ["a"] * 4)  # fewer vectors than k: the farthest
    np.testing.assert_allclose(few.score(Signals(queries, np.full((7, 1), 1.0), ["a"])), 1.0 - (queries @ train[:4].T).min(axis=1), rtol=1e-6)


def test_combined_scorer_learns_which_part_to_trust_and_needs_oos_examples():
    class Fixed:
        def __init__(self, column):
            self.column = column

        def score(self, signals):
            return signals.probs[:, self.column]

    rng = np.random.default_rng(1)
    is_oos = np.array([False] * 40 + [True] * 10)
    informative = is_oos + 0.1 * rng.normal(size=50)
    noise = rng.normal(size=50)
    signals = Signals(np.zeros((50, 2)), np.column_stack([informative, noise]), ["a", "b"])
    combined = CombinedScorer({"good": Fixed(0), "noise": Fixed(1)})
    held_out = combined.fit_validation(signals, is_oos)
    assert held_out[is_oos].min() > held_out[~is_oos].max()
    assert abs(combined.coef_[0]) > abs(combined.coef_[1])  # part names are sorted: good, noise
    with pytest.raises(DataError, match="at least 2 in-scope and 2 out-of-scope"):
        CombinedScorer({"good": Fixed(0)}).fit_validation(signals, np.eye(50, dtype=bool)[0])


def test_probability_scorers_read_the_calibrated_probabilities():
    signals = Signals(np.eye(2), np.array([[0.7, 0.2, 0.1], [0.2, 0.3, 0.5]]), ["a", "b", OUT_OF_SCOPE])
    np.testing.assert_allclose(ConfidenceScorer().score(signals), [0.3, 0.7])
    np.testing.assert_allclose(OOSClassScorer().fit(signals, ["a", "b"]).score(signals), [0.1, 0.5])
    with pytest.raises(DataError, match="needs out-of-scope training examples"):
        OOSClassScorer().fit(Signals(np.eye(2), np.eye(2), ["a", "b"]), ["a", "b"])


def test_make_scorer_knows_the_methods():
    assert isinstance(make_scorer("knn", k=3), KNNScorer) and make_scorer("knn", k=3).k == 3
    with pytest.raises(ConfigError, match="unknown out-of-scope method 'magic'"):
        make_scorer("magic")
    with pytest.raises(ConfigError, match="k must be at least 1"):
        KNNScorer(k=0)
