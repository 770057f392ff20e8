"""The public surface apps use instead of the classifier's insides (issue 20)."""

import numpy as np
import pytest

from shared.classifier import TextClassifier
from shared.errors import ConfigError
from shared.finetune_config import FineTuneConfig

QUERIES = ["my card was stolen", "how do I get my money back", "I want to open an account"]


def test_params_are_the_constructor_arguments_and_set_params_returns_self():
    config = FineTuneConfig(mode="fast")
    clf = TextClassifier(config=config)
    assert clf.get_params() == {"base_model": None, "config": config, "keep_fit_embeddings": False}
    assert clf.set_params(keep_fit_embeddings=True) is clf and clf.get_params()["keep_fit_embeddings"] is True
    with pytest.raises(ConfigError, match="unknown parameter.*epochs"):
        clf.set_params(epochs=3)


def test_the_head_applied_to_embed_gives_predict_proba(fast_clf):
    vectors = fast_clf.embed(QUERIES)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(fast_clf.proba_from_embeddings(vectors), fast_clf.predict_proba(QUERIES), atol=1e-5)
    assert fast_clf.embed([]).shape == (0, 384)


def test_a_stock_sequence_classifier_has_no_embeddings_to_hand_out(full_clf):
    with pytest.raises(ConfigError, match="mean-pooling"):
        full_clf.embed(QUERIES)
    with pytest.raises(ConfigError, match="mean-pooling"):
        full_clf.proba_from_embeddings(np.zeros((1, 384), dtype=np.float32))


def test_learned_state_reads_through_public_names(fast_clf):
    assert fast_clf.labels == fast_clf.labels_ and fast_clf.labels is not fast_clf.labels_  # a copy: callers cannot edit it
    assert fast_clf.temperature == fast_clf.temperature_ and fast_clf.max_length == fast_clf.max_length_
    assert fast_clf.metrics["train_examples"] > 0
    assert fast_clf.tokenizer("a card", add_special_tokens=False)["input_ids"]
    assert fast_clf.fit_embeddings() == {}  # kept only when asked for (keep_fit_embeddings=True)


def test_kept_vectors_can_be_dropped(tiny_data):
    texts, labels = tiny_data
    clf = TextClassifier(config=FineTuneConfig(mode="fast", fast_c_grid=(4.0,)), keep_fit_embeddings=True)
    clf.fit(texts, labels, eval_data=(texts, labels), progress=False)
    assert set(clf.fit_embeddings()) == set(texts)
    clf.forget_fit_embeddings()
    assert clf.fit_embeddings() == {}
