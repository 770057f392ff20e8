import copy
import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.classifier import TextClassifier
from shared.errors import ConfigError, DataError, IntegrityError
from shared.finetune_config import FineTuneConfig

QUERIES = ["my card has not come yet", "please refund me", "how to top up", "euro conversion rate", ""]


def test_fit_returns_self_and_learns_labels(tiny_data):
    texts, labels = tiny_data
    clf = TextClassifier(config=FineTuneConfig(mode="fast"))
    assert clf.fit(texts, labels, progress=False) is clf
    assert clf.labels_ == sorted(set(labels))


def test_fast_mode_separates_the_intents(fast_clf, tiny_data):
    texts, labels = tiny_data
    assert fast_clf.evaluate(texts, labels)["accuracy"] >= 0.95
    assert fast_clf.predict(["where is my card, it has not arrived", "I need a refund for my order"]) == ["card_arrival", "refund"]


@pytest.mark.parametrize("name", ["fast_clf", "full_clf"])
def test_probabilities_are_rows_over_the_labels(request, name):
    clf = request.getfixturevalue(name)
    probs = clf.predict_proba(QUERIES)
    assert probs.shape == (len(QUERIES), len(clf.labels_))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert (probs >= 0).all()
    assert clf.predict_proba([]).shape == (0, len(clf.labels_))


def test_full_fine_tuning_learns_the_tiny_task(full_clf, tiny_data):
    texts, labels = tiny_data
    assert full_clf.evaluate(texts, labels)["accuracy"] >= 0.75


def test_evaluate_reports_per_label_scores_confusions_and_calibration(fast_clf, tiny_data):
    texts, labels = tiny_data
    report = fast_clf.evaluate(texts, labels)
    assert set(report) >= {"accuracy", "macro_f1", "per_label", "confused_pairs", "ece"}
    assert set(report["per_label"]) == set(labels)
    assert report["per_label"]["refund"]["support"] == 8
    assert 0 <= report["ece"] <= 1


def test_calibration_metrics_are_recorded(fast_clf):
    metrics = fast_clf.metrics_
    assert metrics["temperature"] == fast_clf.temperature_ > 0
    assert {"ece_before_calibration", "ece_after_calibration"} <= set(metrics)


def test_unknown_label_at_evaluation_is_a_clear_error(fast_clf):
    with pytest.raises(DataError, match="not trained on: loan_request"):
        fast_clf.evaluate(["can I borrow money"], ["loan_request"])


def test_a_single_string_is_refused_not_split_into_characters(fast_clf):
    with pytest.raises(DataError, match="single string"):
        fast_clf.predict_proba("where is my card")


def test_training_needs_two_labels():
    with pytest.raises(DataError, match="two different labels"):
        TextClassifier(config=FineTuneConfig(mode="fast")).fit(["a", "b"], ["x", "x"])


@pytest.mark.parametrize("bad", [{"mode": "turbo"}, {"epochs": 0}, {"warmup_ratio": 1.5}, {"pooling": "max"}, {"class_weight": "auto"},
                                 {"soup": 0}, {"rdrop": -1.0}, {"layer_decay": 0.0}, {"layer_decay": 1.5}])
def test_config_is_validated(bad):
    with pytest.raises(ConfigError):
        FineTuneConfig(**bad)


def test_set_options_become_typed_config_fields():
    from shared.finetune_config import parse_overrides

    overrides = parse_overrides(["learning_rate=1e-4", "soup=2", "calibrate=false", "interpolation_grid=0,0.2", "class_weight=none"])
    assert overrides == {"learning_rate": 1e-4, "soup": 2, "calibrate": False, "interpolation_grid": (0.0, 0.2), "class_weight": None}
    assert FineTuneConfig(**overrides).soup == 2


@pytest.mark.parametrize("item, message", [("lerning_rate=1e-4", "KEY one of"), ("learning_rate", "KEY=VALUE"),
                                           ("mode=fast", "KEY one of"), ("soup=two", "not a valid int"), ("calibrate=maybe", "not a valid bool")])
def test_a_bad_set_option_names_what_is_wrong(item, message):
    from shared.finetune_config import parse_overrides

    with pytest.raises(ConfigError, match=message):
        parse_overrides([item])


def test_imbalanced_labels_are_reweighted():
    from shared.training import class_weights

    weights = class_weights(np.array([0, 0, 0, 1]), 2, FineTuneConfig(mode="fast"))
    assert weights[1] == pytest.approx(3 * weights[0])


@pytest.mark.parametrize("name", ["fast_clf", "full_clf"])
def test_save_then_load_gives_the_same_output(request, tmp_path, name):
    clf = request.getfixturevalue(name)
    loaded = TextClassifier.load(clf.save(tmp_path / "model"))
    np.testing.assert_allclose(loaded.predict_proba(QUERIES), clf.predict_proba(QUERIES), atol=1e-6)
    assert loaded.labels_ == clf.labels_
    assert loaded.temperature_ == clf.temperature_
    hf_dir = "" if clf.architecture == "sequence-classification" else "encoder/"
    for name in ("manifest.json", "labels.json", "metrics.json", "training_config.json", f"{hf_dir}model.safetensors"):
        assert (tmp_path / "model" / name).is_file()


def test_saving_again_keeps_the_previous_model_for_rollback(fast_clf, tmp_path):
    fast_clf.save(tmp_path / "model")
    fast_clf.save(tmp_path / "model")
    assert (tmp_path / "model.previous" / "manifest.json").is_file()


def test_stock_architecture_loads_in_a_transformers_pipeline(full_clf, tmp_path):
    from transformers import pipeline

    path = full_clf.save(tmp_path / "model")
    predictions = pipeline("text-classification", model=str(path))(QUERIES[:4])
    assert [p["label"] for p in predictions] == full_clf.predict(QUERIES[:4])


def test_mean_pooling_dir_is_never_mistaken_for_a_stock_classifier(saved_fast):
    from sentence_transformers import SentenceTransformer

    assert not (saved_fast / "config.json").exists()  # pipeline(DIR) fails instead of guessing a head
    # The encoder inside is a plain model directory that sentence-transformers loads as it is.
    vector = SentenceTransformer(str(saved_fast / "encoder"), local_files_only=True).encode(["hello"])
    assert vector.shape == (1, 384)


def test_a_flipped_byte_is_an_integrity_error(fast_clf, tmp_path):
    path = fast_clf.save(tmp_path / "model")
    weights = path / "encoder" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="encoder/model.safetensors does not match"):
        TextClassifier.load(path)


def test_a_planted_pickle_is_refused(saved_fast, tmp_path):
    import shutil

    path = tmp_path / "model"
    shutil.copytree(saved_fast, path)
    (path / "pytorch_model.bin").write_bytes(b"not really a pickle")
    with pytest.raises(IntegrityError, match="not listed in the manifest"):
        TextClassifier.load(path)


def test_training_is_reproducible_for_a_seed(tiny_data):
    texts, labels = tiny_data
    config = FineTuneConfig(mode="full", pooling="cls", epochs=1, batch_size=16)
    a = TextClassifier(config=config).fit(texts, labels, eval_data=(texts, labels), progress=False)
    b = TextClassifier(config=config).fit(texts, labels, eval_data=(texts, labels), progress=False)
    np.testing.assert_allclose(a.decision_function(QUERIES), b.decision_function(QUERIES), atol=1e-5)


def test_warm_start_adds_a_label_and_keeps_the_old_ones(full_clf, tiny_data):
    texts, labels = tiny_data
    new = ["I forgot my PIN", "reset my pin code", "how do I change my PIN", "my pin is blocked"] * 2
    old_row = full_clf.model_.classifier.weight[full_clf.labels_.index("refund")].detach().clone()
    clf = copy.deepcopy(full_clf)
    clf.config = FineTuneConfig(mode="full", pooling="cls", epochs=0.01, batch_size=16)  # a few steps: the head is what is checked
    clf.fit(texts + new, labels + ["pin"] * len(new), eval_data=None, warm_start=True, progress=False)
    assert clf.labels_ == sorted(set(labels) | {"pin"})
    assert clf.model_.classifier.out_features == 5
    # The refund row started from the old model's row, not from a random init.
    new_row = clf.model_.classifier.weight[clf.labels_.index("refund")].detach()
    assert np.corrcoef(old_row.numpy(), new_row.numpy())[0, 1] > 0.9


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=3000))
def test_any_unicode_text_gets_a_probability_row(fast_clf, text):
    probs = fast_clf.predict_proba([text])
    assert probs.shape == (1, len(fast_clf.labels_))
    assert np.isfinite(probs).all()
    assert probs.sum() == pytest.approx(1.0, abs=1e-6)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(min_size=0, max_size=200), min_size=1, max_size=8))
def test_batched_and_single_predictions_agree(fast_clf, texts):
    batched = fast_clf.predict_proba(texts)
    single = np.vstack([fast_clf.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(batched, single, atol=1e-5)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(max_size=300), min_size=1, max_size=5))
def test_loaded_model_matches_the_trained_one_on_any_text(fast_clf, loaded_fast, texts):
    np.testing.assert_allclose(loaded_fast.predict_proba(texts), fast_clf.predict_proba(texts), atol=1e-6)


@pytest.fixture(scope="module")
def loaded_fast(saved_fast):
    return TextClassifier.load(saved_fast)


def test_metrics_file_holds_the_validation_report(saved_fast):
    metrics = json.loads((saved_fast / "metrics.json").read_text())
    assert metrics["validation"]["accuracy"] >= 0.95


def test_lp_ft_interpolates_towards_the_probe_when_validation_says_so(tiny_data):
    texts, labels = tiny_data
    config = FineTuneConfig(mode="full", epochs=1, batch_size=16, interpolation_grid=(0.0, 0.5))
    clf = TextClassifier(config=config).fit(texts, labels, eval_data=(texts, labels), progress=False)
    chosen = clf.metrics_["interpolation"]
    scores = chosen["validation_accuracy"]
    assert set(scores) == {"0.0", "0.5"}
    assert scores[str(chosen["alpha"])] == max(scores.values())
    # The weights kept are the chosen mix: they score what the search recorded.
    assert clf.evaluate(texts, labels)["accuracy"] == scores[str(chosen["alpha"])]
    assert clf.metrics_["linear_probe"]["C"] in config.fast_c_grid


def test_a_soup_averages_the_weights_of_several_fine_tuning_runs(tiny_data):
    texts, labels = tiny_data
    config = FineTuneConfig(mode="full", epochs=1, batch_size=16, soup=2, interpolation_grid=(0.0,))
    clf = TextClassifier(config=config).fit(texts, labels, eval_data=(texts, labels), progress=False)
    soup = clf.metrics_["soup"]
    assert len(soup["members"]) == 2 and all(0 <= s <= 1 for s in soup["members"])
    # The weights kept are the average: they score what was recorded for the soup.
    assert clf.evaluate(texts, labels)["accuracy"] == soup["soup"]
    assert sum(1 for entry in clf.training_log_ if "train_runtime" in entry) == 2  # two runs, both logged


def test_r_drop_trains_on_two_dropout_passes_of_every_batch(tiny_data, monkeypatch):
    from shared.modeling import MeanPoolingClassifier

    texts, labels = tiny_data
    seen = []
    forward = MeanPoolingClassifier.forward

    def counting(self, input_ids, attention_mask, token_type_ids=None, labels=None):  # Trainer reads these names
        outputs = forward(self, input_ids, attention_mask)
        if self.training:
            seen.append(input_ids)
        return outputs

    monkeypatch.setattr(MeanPoolingClassifier, "forward", counting)
    config = FineTuneConfig(mode="full", epochs=1, batch_size=16, rdrop=1.0, interpolation_grid=(0.0,))
    clf = TextClassifier(config=config).fit(texts, labels, eval_data=(texts, labels), progress=False)
    assert seen and all(len(batch) % 2 == 0 for batch in seen)
    assert all(torch.equal(*batch.chunk(2)) for batch in seen)  # the same examples twice, for two dropout masks
    assert sum(len(batch) for batch in seen) == 2 * len(texts)
    assert clf.evaluate(texts, labels)["accuracy"] >= 0.9


def test_layer_decay_trains_lower_layers_at_lower_rates(tiny_data):
    from shared.training import layerwise_optimizer

    texts, labels = tiny_data
    config = FineTuneConfig(mode="full", epochs=2, batch_size=16, learning_rate=1e-4, layer_decay=0.5, interpolation_grid=(0.0,))
    clf = TextClassifier(config=config).fit(texts, labels, eval_data=(texts, labels), progress=False)
    assert clf.evaluate(texts, labels)["accuracy"] >= 0.9

    optimizer = layerwise_optimizer(clf.model_, config)
    rate = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    params = dict(clf.model_.named_parameters())
    assert len(rate) == len(params)  # every weight trains, once
    layers = clf.model_.encoder.config.num_hidden_layers
    assert rate[id(params["head.weight"])] == pytest.approx(1e-4)
    assert rate[id(params["encoder.encoder.layer.5.attention.self.query.weight"])] == pytest.approx(1e-4 * 0.5)
    assert rate[id(params["encoder.embeddings.word_embeddings.weight"])] == pytest.approx(1e-4 * 0.5 ** (layers + 1))
    no_decay = {id(p) for group in optimizer.param_groups if group["weight_decay"] == 0 for p in group["params"]}
    assert id(params["encoder.encoder.layer.0.output.LayerNorm.weight"]) in no_decay
    assert id(params["head.weight"]) not in no_decay


def test_continued_full_training_on_known_labels_keeps_the_trained_head(tiny_data):
    texts, labels = tiny_data
    config = FineTuneConfig(mode="full", epochs=1, batch_size=16, learning_rate=1e-9, interpolation_grid=(0.0,))
    clf = TextClassifier(config=config).fit(texts, labels, eval_data=(texts, labels), progress=False)
    head = clf.model_.head.weight.detach().clone()
    # A few new examples of known labels: a probe refitted on them would replace the head; continuing keeps it
    # (the learning rate is ~0 here, so any change would be the probe's).
    few = [i for i, label in enumerate(labels) if labels.index(label) + 3 > i]  # each label's first three
    clf.fit([texts[i] for i in few], [labels[i] for i in few], warm_start=True, progress=False)
    assert clf.labels_ == sorted(set(labels))
    assert torch.allclose(clf.model_.head.weight, head, atol=1e-6)
    assert len(clf.guard_data()[0]) > 0  # the first training's guard stays


def test_the_guard_is_validation_rows_saved_with_the_model(tmp_path, tiny_data):
    texts, labels = tiny_data
    validation = (texts[::2], labels[::2])
    clf = TextClassifier(config=FineTuneConfig(mode="fast", guard_size=5)).fit(texts[1::2], labels[1::2], eval_data=validation, progress=False)
    guard = clf.guard_data()
    # A uniform sample in the data's order (its label shares are the validation data's), never training rows.
    assert len(guard[0]) == 5 and set(zip(*guard)) <= set(zip(*validation)) and not set(guard[0]) & set(texts[1::2])
    assert [validation[0].index(t) for t in guard[0]] == sorted(validation[0].index(t) for t in guard[0])
    assert TextClassifier.load(clf.save(tmp_path / "m")).guard_data() == guard
