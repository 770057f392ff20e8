import random

import pytest

from shared.artifacts import ArtifactStore, write_manifest
from shared.classifier import TextClassifier
from shared.continual import promote_if_not_worse, publish_first, retrain
from shared.finetune_config import FineTuneConfig

PIN = ["I forgot my PIN", "reset my pin code", "how do I change my PIN", "my pin is blocked",
       "unlock my PIN please", "where do I see my pin", "new pin number", "PIN entered wrong three times"]


@pytest.fixture
def store(tmp_path, fast_clf):
    store = ArtifactStore(tmp_path / "intent")
    publish_first(store, fast_clf)
    return store


def test_new_label_is_learned_without_forgetting_and_promoted(store, tiny_data):
    texts, labels = tiny_data
    first = store.active()
    holdout = (["what is my pin", "change the PIN", "where is my card", "refund for my order"], ["pin", "pin", "card_arrival", "refund"])
    result = retrain(store, PIN, ["pin"] * len(PIN), holdout, progress=False)
    assert result.promoted, result.summary()
    assert result.new_labels == ["pin"]
    assert result.new_metrics["accuracy"] >= result.old_metrics["accuracy"]
    active = TextClassifier.load(store.active())
    assert "pin" in active.labels_
    assert active.evaluate(texts, labels)["accuracy"] >= 0.9  # replay kept the old intents
    assert store.rollback() == first


def test_a_worse_candidate_is_not_promoted(store, tiny_data):
    texts, labels = tiny_data
    before = store.active()
    shuffled = labels[:]
    random.Random(0).shuffle(shuffled)
    # Many mislabelled examples outweigh the replayed good ones.
    result = retrain(store, texts * 3, shuffled * 3, (texts, labels), config=FineTuneConfig(mode="fast", replay_per_label=2), progress=False)
    assert not result.promoted
    assert store.active() == before
    assert result.version.is_dir()  # kept for inspection


def test_hold_out_per_label_learns_each_labels_first_example_and_tests_its_second():
    from shared.continual import hold_out_per_label

    items = [("a1", "x"), ("b1", "y"), ("a2", "x"), ("a3", "x"), ("a4", "x"), ("a5", "x"), ("a6", "x"), ("b2", "y")]
    learn, held = hold_out_per_label(items, lambda item: item[1])
    assert [i for i, _ in held] == ["a2", "a6", "b2"]  # each label's 2nd, 6th, 10th...
    assert [i for i, _ in learn] == ["a1", "b1", "a3", "a4", "a5"]


def test_a_candidate_that_wins_on_held_out_corrections_but_forgets_is_stopped_by_the_guard(store, tiny_data):
    texts, labels = tiny_data
    before = store.active()
    shuffled = labels[:]
    random.Random(0).shuffle(shuffled)
    # Like analysts' corrections, the held-out rows carry labels the active model does not give.
    wrong = [(t, s) for t, y, s in zip(texts, labels, shuffled) if s != y][::4]
    result = retrain(store, texts * 3, shuffled * 3, ([t for t, _ in wrong], [s for _, s in wrong]),
                     config=FineTuneConfig(mode="fast", replay_per_label=2), progress=False)
    assert result.new_metrics["accuracy"] > result.old_metrics["accuracy"]  # it wins where it was checked ...
    assert result.new_metrics["guard_accuracy"] < result.old_metrics["guard_accuracy"]  # ... and forgot the rest
    assert not result.promoted and "worse on the guard" in result.reason
    assert store.active() == before


def test_the_promotion_gate_every_app_uses(tmp_path):
    store = ArtifactStore(tmp_path / "models")
    new_version = store.new_version_dir
    store.new_version_dir = lambda: _saved_version(new_version())  # what a model's save() leaves behind
    first = store.new_version_dir()
    assert promote_if_not_worse(store, first, None, {"auc": 0.5}, metrics=("auc",)) == (True, first)  # nothing active yet
    assert store.active() == first

    worse = store.new_version_dir()
    assert promote_if_not_worse(store, worse, {"accuracy": 0.9}, {"accuracy": 0.89}) == (False, worse)
    assert store.active() == first
    within = store.new_version_dir()
    assert promote_if_not_worse(store, within, {"accuracy": 0.9}, {"accuracy": 0.89}, tolerance=0.02)[0]

    # Every metric named must hold; a candidate saved only when promoted is never saved otherwise.
    saved = []
    save = lambda: saved.append(store.new_version_dir()) or saved[-1]  # noqa: E731 - the test's stand-in for a model's save
    old, new = {"accuracy": 0.8, "guard_accuracy": 0.9}, {"accuracy": 0.85, "guard_accuracy": 0.7}
    assert promote_if_not_worse(store, save, old, new, metrics=("accuracy", "guard_accuracy")) == (False, None) and saved == []
    ran = []
    promoted, version = promote_if_not_worse(store, save, old, {**new, "guard_accuracy": 0.9}, metrics=("accuracy", "guard_accuracy"),
                                             before_activate=lambda v: ran.append(store.active()))
    assert promoted and version == saved[0] == store.active() and ran == [within]  # hook ran before ACTIVE moved


def _saved_version(directory):
    directory.mkdir(parents=True)
    (directory / "weights.json").write_text("{}")
    write_manifest(directory, "test")
    return directory
