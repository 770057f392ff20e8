"""The periodic retrain promotes a candidate click model only when it is not worse on held-out feedback."""

import pytest

from recommender.click_model import ClickModel, ClickModelConfig
from recommender.importers import import_feedback, import_items
from recommender.plugin import DEMO_FEEDBACK, DEMO_ITEMS
from recommender.retraining import retrain
from shared.artifacts import ArtifactStore
from shared.errors import DataError

FROZEN = ClickModelConfig(fine_tune=False)  # the encoder's fine-tuning has its own tests; this is about promotion


@pytest.fixture(scope="module")
def demo():
    items, _ = import_items(DEMO_ITEMS, strict=True)
    feedback, _ = import_feedback(DEMO_FEEDBACK, {i.id for i in items}, strict=True)
    return items, feedback


def test_the_first_model_is_promoted_and_a_worse_one_never_replaces_it(tmp_path, demo):
    store = ArtifactStore(tmp_path / "models")
    first = retrain(*demo, store, FROZEN)
    assert first.promoted and first.old_metrics is None and store.active() == first.version
    assert 0.5 < first.new_metrics["auc"] <= 1 and "held-out auc" in first.summary()
    assert ClickModel.load(store.active()).score(["f01"], history=["f02"]).source == "model"

    # Demand more than any model can give (AUC + 1): the candidate loses, nothing changes on disk.
    second = retrain(*demo, store, FROZEN, tolerance=-1.0)
    assert not second.promoted and second.old_metrics is not None
    assert second.version is None and second.summary().endswith("candidate not saved")
    assert store.active() == first.version and store.versions() == [first.version.name]


def test_a_candidate_as_good_as_the_active_model_is_promoted_and_old_versions_are_pruned(tmp_path, demo):
    store = ArtifactStore(tmp_path / "models")
    versions = [retrain(*demo, store, FROZEN, keep=2).version for _ in range(3)]  # same data, same seed: equal, not worse
    assert store.active() == versions[-1]
    assert store.versions() == [v.name for v in versions[-2:]]


def test_too_little_feedback_is_a_clear_error(tmp_path, demo):
    items, feedback = demo
    with pytest.raises(DataError, match="too little feedback"):
        retrain(items, feedback[:1], ArtifactStore(tmp_path / "models"), FROZEN)
