"""Frozen lowest layers computed once (shared.frozen_prefix): the top layers fed from the cache give the whole
model's answer, and training with ``freeze_layers`` changes only what is above the frozen part."""

import numpy as np
import pytest
import torch

from shared import frozen_prefix
from shared.classifier import TextClassifier
from shared.distillation import TEACHER_FROZEN_LAYERS, teacher_config
from shared.finetune_config import FineTuneConfig

FROZEN = 4  # of MiniLM's 6 layers
CONFIG = FineTuneConfig(mode="full", epochs=2, learning_rate=1e-3, batch_size=16, max_length=32, interpolation_grid=(0.0,), freeze_layers=FROZEN)


@pytest.fixture(scope="module")
def frozen_fit(tiny_data):
    texts, labels = tiny_data
    return TextClassifier(config=CONFIG).fit(texts, labels, eval_data=(texts, labels), progress=False)


def test_the_top_layers_on_cached_states_give_the_whole_models_logits(frozen_fit, tiny_data):
    texts = tiny_data[0][:12]
    model = frozen_fit.model_
    cache = frozen_prefix.encode(model, frozen_fit.tokenizer, texts, FROZEN, max_length=32, batch_size=5)
    rows = [{"inputs_embeds": cache.hidden[t], "input_ids": cache.token_ids[t], "labels": 0} for t in texts]
    batch = frozen_prefix.collate(rows)
    batch.pop("labels")
    with frozen_prefix.top_layers_only(model, FROZEN) as top, torch.no_grad():
        cached = top(**batch).logits.numpy()
    # Half-precision cache: equal to a few parts in ten thousand of the logits' size.
    np.testing.assert_allclose(cached, frozen_fit.decision_function(texts), atol=2e-3)
    assert len(model.encoder.encoder.layer) == 6 and not isinstance(model.encoder.embeddings, torch.nn.Identity)  # given back


def test_the_cache_holds_the_encoders_sentence_embedding_for_the_probe(fast_clf, tiny_data):
    texts = tiny_data[0][:6]
    cache = frozen_prefix.encode(fast_clf.model_, fast_clf.tokenizer, texts, FROZEN, max_length=128, batch_size=4)
    np.testing.assert_allclose(cache.features(texts), fast_clf.embed(texts), atol=1e-5)


def test_training_with_frozen_layers_changes_only_the_layers_above_them(frozen_fit, fast_clf, tiny_data):
    # fast_clf holds the untouched packaged encoder: the frozen part must be bitwise what it was.
    before, after = fast_clf.model_.state_dict(), frozen_fit.model_.state_dict()
    frozen = [k for k in after if ".embeddings." in k or any(f".layer.{i}." in k for i in range(FROZEN))]
    trained = [k for k in after if any(f".layer.{i}." in k for i in range(FROZEN, 6)) and k.endswith("weight")]
    assert frozen and trained
    assert all(torch.equal(before[k], after[k]) for k in frozen)
    assert all(not torch.equal(before[k], after[k]) for k in trained)
    assert frozen_fit.evaluate(*tiny_data)["accuracy"] >= 0.9  # and it learned the tiny intents


def test_a_teacher_freezes_its_lowest_layers_unless_told_otherwise():
    student = FineTuneConfig(mode="full", epochs=6, freeze_layers=0, soup=3)
    teacher = teacher_config(student)
    assert (teacher.freeze_layers, teacher.epochs, teacher.soup, teacher.interpolation_grid) == (TEACHER_FROZEN_LAYERS, 3.0, 1, (0.0,))
    assert teacher_config(student, {"freeze_layers": 0, "epochs": 2.0}).freeze_layers == 0
    assert student.freeze_layers == 0  # the student's own settings are not touched


def test_teacher_set_reaches_the_teacher_alone():
    from shared.cli import build_parser, distillation_plan

    args = build_parser().parse_args(["train-classifier", "--train", "T", "--teacher", "mpnet", "--teacher-set", "freeze_layers=10",
                                      "--teacher-set", "epochs=2", "--set", "epochs=5", "--out", "D"])
    plan = distillation_plan(args, [])
    assert plan.teacher_settings == {"freeze_layers": 10, "epochs": 2.0} and args.set == ["epochs=5"]
