import numpy as np

from customer_service.intent_files import OUT_OF_SCOPE
from customer_service.signals import Signals, embed, signals_for
from shared.classifier import TextClassifier
from shared.finetune_config import FineTuneConfig

IN_SCOPE = ["my card has been stolen, block it", "what savings interest do you offer"]


def test_signals_give_calibrated_in_scope_probabilities(detector):
    signals = detector.signals(IN_SCOPE)
    assert signals.labels == detector.classifier_.labels_ and OUT_OF_SCOPE in signals.labels
    np.testing.assert_allclose(signals.in_scope_probs().sum(axis=1), 1.0, atol=1e-9)
    assert signals.in_scope_labels == detector.intents_
    # One forward pass gives what predict_proba gives.
    np.testing.assert_allclose(signals.probs, detector.classifier_.predict_proba(IN_SCOPE), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(signals.embeddings, axis=1), 1.0, atol=1e-5)


def test_vectors_kept_from_fitting_equal_fresh_ones():
    texts = ["I lost my card", "freeze my stolen card", "open an account", "sign me up as a customer"]
    intents = ["lost_card", "lost_card", "open_account", "open_account"]
    clf = TextClassifier(config=FineTuneConfig(mode="fast", fast_c_grid=(4.0,)), keep_fit_embeddings=True)
    clf.fit(texts, intents, eval_data=(texts, intents), progress=False)
    assert set(clf.fit_embeddings_) == set(texts)
    np.testing.assert_allclose(np.stack([clf.fit_embeddings_[t] for t in texts]), embed(clf, texts), atol=1e-5)
    # signals_for uses the kept vectors, and encodes only what it has not seen
    signals = signals_for(clf, texts + ["where is my card"])
    np.testing.assert_allclose(signals.probs, clf.predict_proba(texts + ["where is my card"]), atol=1e-5)


def test_signals_subset_and_renormalised_in_scope_view():
    signals = Signals(np.eye(3, dtype=np.float32), np.array([[0.6, 0.2, 0.2], [0.1, 0.1, 0.8], [0.3, 0.5, 0.2]]), ["a", OUT_OF_SCOPE, "b"])
    assert signals.in_scope_labels == ["a", "b"]
    np.testing.assert_allclose(signals.oos_probability, [0.2, 0.1, 0.5])
    np.testing.assert_allclose(signals.in_scope_probs()[0], [0.75, 0.25])
    assert signals.predicted_intents() == ["a", "b", "a"]
    part = signals.subset([2])
    assert len(part) == 1 and part.predicted_intents() == ["a"]
    assert Signals(np.eye(2), np.eye(2), ["a", "b"]).oos_probability is None
