"""Teacher -> student distillation (shared.distillation) and the --teacher options of the training commands.

The real encoder (minilm) is both teacher and student, on the tiny intents, one or two short epochs: what is
checked is that the soft targets reach the student, not how good it gets (bench/ measures that).
"""

import numpy as np
import pytest
import torch

from shared.classifier import TextClassifier
from shared.cli import build_parser, distillation_plan, main
from shared.distillation import UNLABELLED, augment, distil, distillation_loss, teacher_dir_for, train_teacher
from shared.errors import ConfigError, DataError
from shared.finetune_config import FineTuneConfig
from shared.modeling import ProbabilisticTextClassifier
from tests.conftest import write_csv

# Texts of no intent in the tiny data: only the teacher says what they are.
UNLABELLED_TEXTS = [
    "the parcel with the plastic thing", "money please", "a letter arrived today", "sorted by the shop",
    "my phone is new", "the app looks nice", "pounds and euros", "the weather in spain",
]
# A high learning rate: a few steps must move the student visibly.
STUDENT = FineTuneConfig(mode="full", epochs=2, learning_rate=2e-3, batch_size=16, max_length=32, interpolation_grid=(0.0,))


class RefundTeacher(ProbabilisticTextClassifier):
    """A teacher that agrees with ``base`` on the labelled texts and calls every other text a refund, confidently."""

    def __init__(self, base):
        self.base, self.labels_, self.labelled = base, base.labels, None

    def _batch_logits(self, texts):
        logits = self.base.decision_function(texts)
        refund = np.full(len(self.labels_), -4.0, dtype=np.float32)
        refund[self.labels_.index("refund")] = 4.0
        return np.array([row if text in self.labelled else refund for text, row in zip(texts, logits)])


def kl_to(teacher, student, texts) -> float:
    p = torch.tensor(teacher.decision_function(texts)).log_softmax(-1)
    q = torch.tensor(student.decision_function(texts)).log_softmax(-1)
    return float(torch.nn.functional.kl_div(q, p, log_target=True, reduction="batchmean"))


@pytest.fixture(scope="module")
def teacher(fast_clf, tiny_data):
    teacher = RefundTeacher(fast_clf)
    teacher.labelled = set(tiny_data[0])
    return teacher


@pytest.fixture(scope="module")
def student(teacher, tiny_data):
    texts, labels = tiny_data
    return distil(TextClassifier(config=STUDENT), teacher, texts, labels, transfer_texts=UNLABELLED_TEXTS, alpha=1.0,
                  eval_data=(texts, labels), teacher_name="refund-teacher", sources=["made-up texts"], progress=False)


def test_unlabelled_rows_carry_only_the_soft_term():
    student, teacher = torch.randn(4, 3), torch.randn(4, 3)
    hard = lambda logits, labels: torch.nn.functional.cross_entropy(logits, labels)  # noqa: E731
    unlabelled = torch.full((4,), UNLABELLED)
    soft_only = distillation_loss(student, teacher, unlabelled, temperature=2.0, alpha=0.5, cross_entropy=hard)
    soft = torch.nn.functional.kl_div((student / 2).log_softmax(-1), (teacher / 2).log_softmax(-1), log_target=True, reduction="batchmean") * 4
    assert torch.isclose(soft_only, 0.5 * soft)
    labels = torch.tensor([0, 1, UNLABELLED, 2])
    mixed = distillation_loss(student, teacher, labels, temperature=2.0, alpha=0.5, cross_entropy=hard)
    keep = labels != UNLABELLED
    assert torch.isclose(mixed, 0.5 * soft + 0.5 * hard(student[keep], labels[keep]))


def test_training_batches_reach_the_loss_with_the_teachers_logits(teacher, tiny_data, monkeypatch):
    # Trainer drops batch columns the model's forward does not name; the soft targets must survive that.
    import shared.distillation as distillation

    soft_batches = []
    real = distillation.distillation_loss
    monkeypatch.setattr(distillation, "distillation_loss", lambda *a, **k: soft_batches.append(1) or real(*a, **k))
    texts, labels = tiny_data
    distil(TextClassifier(config=STUDENT), teacher, texts, labels, alpha=1.0, eval_data=(texts, labels),
           teacher_name="refund-teacher", progress=False)
    assert soft_batches


def test_the_student_learns_what_the_teacher_says_about_unlabelled_text(student, teacher, fast_clf):
    # fast_clf is the student's starting point (the same probe on the same encoder): the teacher's refund
    # opinion of the unlabelled texts exists nowhere but in the soft targets.
    assert kl_to(teacher, student, UNLABELLED_TEXTS) < 0.95 * kl_to(teacher, fast_clf, UNLABELLED_TEXTS)
    refund = teacher.labels.index("refund")
    refund_share = lambda clf: torch.tensor(clf.decision_function(UNLABELLED_TEXTS)).softmax(-1)[:, refund].mean()  # noqa: E731
    assert refund_share(student) > refund_share(fast_clf) + 0.05


def test_metrics_record_the_teacher_and_the_transfer_set(student, tiny_data, tmp_path):
    import json

    record = json.loads((student.save(tmp_path / "student") / "metrics.json").read_text())["distillation"]
    assert record["teacher"] == "refund-teacher" and (record["temperature"], record["alpha"]) == (2.0, 1.0)
    assert record["transfer_set"] == {"labelled": len(tiny_data[0]), "unlabelled": len(UNLABELLED_TEXTS), "augmented": 0,
                                      "sources": ["made-up texts"]}
    assert 0 <= record["teacher_validation_accuracy"] <= 1 and record["wall_time_s"] > 0


def test_the_student_is_a_plain_calibrated_model_that_saves_loads_and_exports(student, tiny_data, tmp_path):
    assert student.temperature != 1.0 and "validation" in student.metrics
    loaded = TextClassifier.load(student.save(tmp_path / "student"))
    np.testing.assert_allclose(loaded.predict_proba(UNLABELLED_TEXTS), student.predict_proba(UNLABELLED_TEXTS), atol=1e-5)
    onnx = loaded.export_onnx(tmp_path / "onnx")
    assert onnx.predict(tiny_data[0]) == student.predict(tiny_data[0])  # int8: the same answers on what it knows


def test_a_teacher_with_other_labels_is_refused_before_training(fast_clf, tiny_data):
    texts, labels = tiny_data
    fewer = [(t, label) for t, label in zip(texts, labels) if label != "refund"]
    with pytest.raises(ConfigError, match="it has refund besides"):
        distil(TextClassifier(config=STUDENT), fast_clf, [t for t, _ in fewer], [label for _, label in fewer], progress=False)


def test_a_teacher_directory_is_reused_not_retrained(saved_fast, tiny_data, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("a saved teacher must not be trained again")

    monkeypatch.setattr(TextClassifier, "fit", no_training)
    teacher, reused = train_teacher(str(saved_fast), *tiny_data, eval_data=None, out_dir=None)
    assert reused and teacher.labels == sorted(set(tiny_data[1]))


def test_augmented_copies_are_seeded_and_differ_from_their_source():
    texts = ["where is my new card", "top up my balance with a bank transfer", "hi"]
    variants = augment(texts, copies=2, seed=1)
    assert variants == augment(texts, copies=2, seed=1) and variants != augment(texts, copies=2, seed=2)
    assert variants and not set(variants) & set(texts)
    assert all(sorted(v.split()) != sorted("hi".split()) for v in variants)  # too short to vary: left out


# ---- the command lines ------------------------------------------------------------------------------

def test_the_issue_forms_parse(tmp_path):
    parser = build_parser()
    cs = parser.parse_args(["cs", "train", "--intents", "T", "--validation", "V", "--oos-train", "O", "--oos-validation", "P",
                            "--teacher", "mpnet", "--out", "D"])
    assert (cs.teacher, cs.unlabelled) == ("mpnet", [])
    finance = parser.parse_args(["finance", "train", "--train", "A", "B", "--validation", "C", "--teacher", "mpnet",
                                 "--unlabelled", "S.csv", "--out", "D"])
    assert finance.teacher == "mpnet" and [str(p) for p in finance.unlabelled] == ["S.csv"]
    core = parser.parse_args(["train-classifier", "--train", "T", "--teacher", "D-teacher", "--alpha", "0.7", "--out", "D"])
    assert (core.teacher, core.alpha, core.temperature) == ("D-teacher", 0.7, 2.0)


def test_unlabelled_files_are_read_with_bad_rows_skipped_and_the_teacher_saved_beside_out(tmp_path):
    stream = write_csv(tmp_path / "stream.csv", [{"published_at": "2020-01-01", "headline": "Shares jump"},
                                                 {"published_at": "2020-01-02", "headline": ""},
                                                 {"published_at": "2020-01-03", "headline": "Bank cuts jobs"}])
    args = build_parser().parse_args(["finance", "train", "--train", "A", "--validation", "B", "--teacher", "mpnet",
                                      "--unlabelled", str(stream), "--out", str(tmp_path / "model")])
    reports = []
    plan = distillation_plan(args, reports)
    assert plan.unlabelled == ["Shares jump", "Bank cuts jobs"] and reports[0].count == 1
    assert plan.teacher_out == teacher_dir_for(tmp_path / "model") == tmp_path / "model-teacher"
    with pytest.raises(DataError, match="stream.csv:3: empty 'headline'"):
        distillation_plan(args, [], strict=True)


def test_a_transfer_set_without_a_teacher_is_a_mistake():
    args = build_parser().parse_args(["train-classifier", "--train", "T", "--unlabelled", "U.csv", "--out", "D"])
    with pytest.raises(ConfigError, match="--teacher"):
        distillation_plan(args, [])


def test_train_classifier_distils_a_saved_teacher(saved_fast, tiny_csv, tmp_path, capsys):
    out = tmp_path / "student"
    argv = ["--quiet", "train-classifier", "--train", str(tiny_csv), "--validation", str(tiny_csv), "--teacher", str(saved_fast),
            "--transfer-augment", "1", "--set", "epochs=1", "--set", "max_length=32", "--set", "interpolation_grid=0", "--out", str(out)]
    assert main(argv) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert "validation accuracy" in summary and f"teacher {saved_fast} validation accuracy" in summary and "(reused)" in summary
    record = TextClassifier.load(out).metrics["distillation"]
    assert record["teacher_reused"] and record["transfer_set"]["augmented"] > 0
    assert not teacher_dir_for(out).exists()  # a reused teacher is not copied


def test_the_support_bot_detector_fits_its_scorers_on_the_student(saved_fast, tiny_data):
    from customer_service.oos import OutOfScopeDetector
    from shared.distillation import DistillationPlan

    texts, intents = tiny_data
    config = FineTuneConfig(mode="full", epochs=1, batch_size=16, max_length=32, interpolation_grid=(0.0,))
    detector = OutOfScopeDetector(config=config).fit(texts, intents, validation=(texts, intents), progress=False,
                                                     distillation=DistillationPlan(str(saved_fast)))
    assert detector.classifier_.metrics["distillation"]["teacher_reused"]
    assert detector.predict(texts[:4]) == intents[:4]


# ---- the accurate tier: a trained teacher served as it is ------------------------------------------

def test_a_saved_classifier_given_as_base_model_is_served_as_it_is(saved_fast, fast_clf, tiny_data, monkeypatch):
    from shared.classifier import train_classifier

    monkeypatch.setattr(TextClassifier, "fit", lambda *a, **k: pytest.fail("a trained model must not be trained again"))
    texts, labels = tiny_data
    served = train_classifier(str(saved_fast), FineTuneConfig(), texts, labels, eval_data=(texts, labels))
    np.testing.assert_allclose(served.predict_proba(texts), fast_clf.predict_proba(texts), atol=1e-6)
    assert served.metrics["reused_from"] == str(saved_fast) and served.metrics["validation"]["n"] == len(texts)


def test_a_saved_classifier_with_other_labels_or_a_teacher_is_refused(saved_fast, tiny_data):
    from shared.classifier import train_classifier
    from shared.distillation import DistillationPlan

    texts, labels = tiny_data
    fewer = [(t, label) for t, label in zip(texts, labels) if label != "refund"]
    with pytest.raises(ConfigError, match="it has refund besides"):
        train_classifier(str(saved_fast), FineTuneConfig(), [t for t, _ in fewer], [label for _, label in fewer])
    with pytest.raises(ConfigError, match="takes no --teacher"):
        train_classifier(str(saved_fast), FineTuneConfig(), texts, labels, distillation=DistillationPlan("mpnet"))


def test_the_support_bot_serves_a_teacher_directory_with_its_own_thresholds(saved_fast, tiny_data, monkeypatch):
    from customer_service.oos import OutOfScopeDetector

    monkeypatch.setattr(TextClassifier, "fit", lambda *a, **k: pytest.fail("a trained model must not be trained again"))
    texts, intents = tiny_data
    detector = OutOfScopeDetector(base_model=str(saved_fast)).fit(texts, intents, validation=(texts, intents), progress=False)
    assert detector.classifier_.metrics["reused_from"] == str(saved_fast)
    assert detector.predict(texts[:4]) == intents[:4]
