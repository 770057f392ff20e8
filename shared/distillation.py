"""A fine-tuned teacher teaches a small student: the accurate model's knowledge, the fast model's cost to serve.

    teacher = train_teacher("mpnet", texts, labels, eval_data=(vt, vl), out_dir="var/models/intent-teacher")
    student = distil(TextClassifier(config=FineTuneConfig(mode="full")), teacher, texts, labels,
                     transfer_texts=unlabelled_headlines, eval_data=(vt, vl))
    student.save("var/models/intent")      # a plain TextClassifier: calibrated, ONNX-exportable, retrainable

The student trains through ``shared.training.fit_full`` (linear probe, Trainer, early stopping on validation,
best checkpoint, interpolation, then temperature calibration), with this loss per batch (Hinton et al. 2015):

    alpha * T² * KL(softmax(teacher / T) || softmax(student / T))  +  (1 - alpha) * cross-entropy

where the cross-entropy (class weights and label smoothing as the config says) counts only the rows that
have a label; transfer rows without one (unlabelled in-domain text, augmented copies) carry the KL term alone.
T² keeps the soft term's gradients the size of the hard one's whatever T is. The teacher's logits are
computed once, before training, on every transfer text: the teacher does not run per epoch.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from torch import nn

from .classifier import TextClassifier, is_trained_classifier
from .errors import ConfigError
from .finetune_config import FineTuneConfig
from .modeling import check_texts, label_gaps

UNLABELLED = -100  # the label id of a transfer row without a label (cross-entropy's ignore_index)
TEACHER_COLUMN = "teacher_logits"  # the per-row column of the training batches that carries the soft targets


def check_settings(temperature: float, alpha: float) -> None:
    if not temperature > 0:
        raise ConfigError(f"the distillation temperature must be positive, got {temperature}")
    if not 0 <= alpha <= 1:
        raise ConfigError(f"alpha (the soft targets' share of the loss) must be in [0, 1], got {alpha}")


def distillation_loss(student_logits, teacher_logits, labels, *, temperature: float, alpha: float, cross_entropy):
    """The batch loss in the module docstring; ``cross_entropy(logits, labels)`` is the hard term on labelled rows."""
    soft = nn.functional.kl_div((student_logits / temperature).log_softmax(-1), (teacher_logits / temperature).log_softmax(-1),
                                log_target=True, reduction="batchmean") * temperature**2
    labelled = labels != UNLABELLED
    if alpha == 1 or not labelled.any():  # nothing for the hard term to read in this batch
        return alpha * soft
    return alpha * soft + (1 - alpha) * cross_entropy(student_logits[labelled], labels[labelled])


def _distillation_trainer(temperature: float, alpha: float):
    from transformers import Trainer
    from transformers.modeling_outputs import SequenceClassifierOutput

    class DistillationTrainer(Trainer):
        """Reads the teacher's logits that each training batch carries; validation batches (no teacher) get cross-entropy."""

        def _set_signature_columns_if_needed(self):
            # Trainer drops every batch key the model's forward does not name before compute_loss sees it
            # (remove_unused_columns): without this the teacher's logits never reached the loss.
            super()._set_signature_columns_if_needed()
            if TEACHER_COLUMN not in self._signature_columns:
                self._signature_columns.append(TEACHER_COLUMN)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs = dict(inputs)
            teacher, labels = inputs.pop(TEACHER_COLUMN, None), inputs.pop("labels")
            outputs = model(**inputs)

            def cross_entropy(logits, targets):  # the config's loss: class weights, label smoothing
                return self.compute_loss_func(SequenceClassifierOutput(logits=logits), targets)

            if teacher is None:
                loss = cross_entropy(outputs.logits, labels)
            else:
                loss = distillation_loss(outputs.logits, teacher.to(outputs.logits.dtype), labels,
                                         temperature=temperature, alpha=alpha, cross_entropy=cross_entropy)
            return (loss, outputs) if return_outputs else loss

    return DistillationTrainer


class TransferSet:
    """The rows the student learns from, each with the teacher's logits: ``fit_full``'s objective.

    ``teacher_logits``: text -> the teacher's logits in the student's label order, for every labelled and
    unlabelled text; ``unlabelled``: texts without a label, trained on with the soft term only."""

    def __init__(self, teacher_logits: dict[str, np.ndarray], unlabelled: list[str], temperature: float, alpha: float):
        self.teacher_logits, self.unlabelled = teacher_logits, unlabelled
        self.temperature, self.alpha = temperature, alpha

    def train_rows(self, texts, y):
        rows = list(texts) + self.unlabelled
        ids = np.concatenate([np.asarray(y, dtype=int), np.full(len(self.unlabelled), UNLABELLED, dtype=int)])
        logits = np.stack([self.teacher_logits[text] for text in rows]).astype(np.float32)
        return rows, ids, {TEACHER_COLUMN: logits}

    def trainer_class(self):
        return _distillation_trainer(self.temperature, self.alpha)


def teacher_logits(teacher, texts: Sequence[str], labels: Sequence[str], *, progress: bool = False) -> dict[str, np.ndarray]:
    """Text -> the teacher's (uncalibrated) logits with columns in ``labels`` order; one batched pass, no gradients."""
    gaps = label_gaps(teacher.labels, labels)
    if gaps:
        raise ConfigError(f"the teacher's labels differ from the training data's: {gaps} (train the teacher on the same labels)")
    unique = list(dict.fromkeys(texts))
    columns = [teacher.labels.index(label) for label in labels]
    logits = teacher.decision_function(unique, progress=progress, desc="teacher logits")[:, columns] if unique else np.zeros((0, len(labels)), dtype=np.float32)
    return dict(zip(unique, logits))


def augment(texts: Sequence[str], *, copies: int = 1, drop: float = 0.1, seed: int = 42) -> list[str]:
    """``copies`` light variants of each text of three words or more: each word dropped with probability
    ``drop`` and one random pair of neighbours swapped. Seeded; a variant equal to its source is left out."""
    rng = random.Random(seed)
    variants = []
    for text in texts:
        words = text.split()
        if len(words) < 3:
            continue
        for _ in range(copies):
            kept = [w for w in words if rng.random() >= drop] or words[:]
            if len(kept) >= 2:
                i = rng.randrange(len(kept) - 1)
                kept[i], kept[i + 1] = kept[i + 1], kept[i]
            variant = " ".join(kept)
            if variant != text:
                variants.append(variant)
    return variants


def distil(student: TextClassifier, teacher, texts: Sequence[str], labels: Sequence[str], *, transfer_texts: Sequence[str] = (),
           temperature: float = 2.0, alpha: float = 0.5, augment_copies: int = 0, eval_data: tuple | None = None,
           teacher_name: str | None = None, sources: Sequence[str] = (), progress: bool = True) -> TextClassifier:
    """Fit ``student`` (a full-mode ``TextClassifier``, not yet trained) on (texts, labels) and ``transfer_texts``
    (unlabelled) with ``teacher``'s soft targets; ``augment_copies`` variants of each training text join the
    unlabelled rows. The student is calibrated on ``eval_data`` as a plain fit is, and its metrics gain a
    ``distillation`` entry (teacher, its validation accuracy, temperature, alpha, the transfer set, wall time).
    ``teacher``: any fitted classifier with ``labels`` and ``decision_function`` (torch or ONNX). Returns the student."""
    check_settings(temperature, alpha)
    if student.config.mode != "full":
        raise ConfigError("distillation trains the student in full mode (mode='full')")
    started = time.perf_counter()
    texts, labels = check_texts(texts), [str(label) for label in labels]
    labelled = set(texts)
    augmented = augment(texts, copies=augment_copies, seed=student.config.seed) if augment_copies else []
    unlabelled = [t for t in dict.fromkeys(check_texts(transfer_texts) + augmented) if t not in labelled]
    student_labels = sorted(set(labels))
    soft = teacher_logits(teacher, texts + unlabelled, student_labels, progress=progress)
    student.fit(texts, labels, eval_data=eval_data, progress=progress,
                objective=TransferSet(soft, unlabelled, temperature, alpha))
    teacher_accuracy = None
    if eval_data is not None:
        teacher_accuracy = teacher.evaluate(*eval_data)["accuracy"]
    student.metrics_["distillation"] = {
        "teacher": str(teacher_name or getattr(teacher, "base_model", None) or type(teacher).__name__),
        "teacher_base_model": getattr(teacher, "base_model", None),
        "teacher_validation_accuracy": teacher_accuracy,
        "temperature": temperature, "alpha": alpha,
        # Labelled: what the student trained on (without eval_data, fit holds a share of the texts out).
        "transfer_set": {"labelled": student.metrics_["train_examples"], "unlabelled": len(unlabelled), "augmented": len(augmented),
                         "sources": list(sources) + (["augmented training texts"] if augmented else [])},
        "wall_time_s": round(time.perf_counter() - started, 1),
    }
    return student


# ---- the teacher ------------------------------------------------------------------------------------

TEACHER_FROZEN_LAYERS = 8  # of mpnet's 12: the top third trains; chosen so that a BANKING77 teacher fits an hour on 2 cores


def teacher_config(config: FineTuneConfig, overrides: dict | None = None) -> FineTuneConfig:
    """What a teacher trains with: the student's settings, full mode with mean pooling, at most 3 epochs with early
    stopping after one that does not improve, one soup member, no interpolation back towards the probe, and the
    lowest ``TEACHER_FROZEN_LAYERS`` layers frozen and computed once (``shared.frozen_prefix``); then ``overrides``
    (``--teacher-set``). Trainer pads per batch, groups similar lengths and runs on a GPU where there is one."""
    settings = {"mode": "full", "pooling": "mean", "epochs": min(config.epochs, 3.0), "early_stopping_patience": 1, "soup": 1,
                "interpolation_grid": (0.0,), "freeze_layers": TEACHER_FROZEN_LAYERS}
    return replace(config, **settings | (overrides or {}))


def train_teacher(name_or_dir: str, texts: Sequence[str], labels: Sequence[str], eval_data: tuple | None, out_dir: str | Path | None,
                  *, config: FineTuneConfig | None = None, overrides: dict | None = None, progress: bool = True) -> tuple[TextClassifier, bool]:
    """(teacher, reused). A saved classifier directory is loaded and used as it is (not retrained); an encoder
    name ("mpnet") or encoder directory is fine-tuned on (texts, labels) with ``teacher_config(config)``,
    and saved to ``out_dir`` (when given) so that the next run can pass that directory instead; ``overrides``: settings
    for the teacher alone (``teacher_config``)."""
    if not name_or_dir:
        raise ConfigError("a teacher needs a name (an encoder such as mpnet) or a directory")
    if is_trained_classifier(name_or_dir):
        return TextClassifier.load(name_or_dir), True
    teacher = TextClassifier(base_model=str(name_or_dir), config=teacher_config(config or FineTuneConfig(), overrides))
    teacher.fit(texts, labels, eval_data=eval_data, progress=progress)
    if out_dir is not None:
        teacher.save(out_dir)
    return teacher, False


@dataclass
class DistillationPlan:
    """What a training command asks of distillation: which teacher, where a new one is saved, the transfer set.

    ``train_student`` is what the apps call where they would fit their classifier."""

    teacher: str
    teacher_out: Path | None = None
    unlabelled: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    temperature: float = 2.0
    alpha: float = 0.5
    augment_copies: int = 0
    teacher_settings: dict = field(default_factory=dict)  # the teacher's own training settings (teacher_config's overrides)

    def __post_init__(self):
        check_settings(self.temperature, self.alpha)
        if self.augment_copies < 0:
            raise ConfigError(f"augment copies must be 0 or more, got {self.augment_copies}")

    def train_student(self, student: TextClassifier, texts, labels, *, eval_data=None, progress: bool = True) -> TextClassifier:
        """Train (or reuse) the teacher on the same data, then distil it into ``student``; its metrics say which."""
        if student.config.mode != "full":
            raise ConfigError("--teacher trains the student in full mode: drop --mode fast")
        started = time.perf_counter()
        teacher, reused = train_teacher(self.teacher, texts, labels, eval_data, self.teacher_out, config=student.config,
                                       overrides=self.teacher_settings, progress=progress)
        teacher_seconds = round(time.perf_counter() - started, 1)
        distil(student, teacher, texts, labels, transfer_texts=self.unlabelled, temperature=self.temperature, alpha=self.alpha,
               augment_copies=self.augment_copies, eval_data=eval_data, teacher_name=self.teacher, sources=self.sources, progress=progress)
        record = student.metrics_["distillation"]
        record["teacher_reused"] = reused
        record["teacher_wall_time_s"] = 0.0 if reused else teacher_seconds
        if not reused and self.teacher_out is not None:
            record["teacher_saved_to"] = str(self.teacher_out)
        return student


def teacher_dir_for(out: str | Path) -> Path:
    """Where a training command saves the teacher it fine-tuned for ``--out DIR``: ``DIR-teacher`` beside it (inside,
    the model directory's manifest would not list it), so the next run can pass ``--teacher DIR-teacher``."""
    out = Path(out)
    return out.with_name(out.name + "-teacher")


def summary(metrics: dict) -> str:
    """The part of a training command's summary line that says how the teacher did and what it cost."""
    record = metrics.get("distillation")
    if not record:
        return ""
    accuracy = record.get("teacher_validation_accuracy")
    text = f"; teacher {record['teacher']}" + (f" validation accuracy {accuracy:.4f}" if accuracy is not None else "")
    text += " (reused)" if record.get("teacher_reused") else f" (trained in {record.get('teacher_wall_time_s', 0):.0f}s)"
    transfer = record["transfer_set"]
    return text + (f", distilled on {transfer['labelled']} labelled + {transfer['unlabelled']} unlabelled texts "
                   f"in {record['wall_time_s']:.0f}s")


def read_unlabelled(paths: Sequence[str | Path], reports: list, strict: bool = False) -> list[str]:
    """The texts of unlabelled transfer files: CSV/JSONL with a ``headline`` column (a finance news stream) or a
    text column (text, sentence, ..., title), any label column ignored. A bad row is skipped into a report added
    to ``reports`` (with ``strict``, a DataError)."""
    from .datafiles import TEXT_COLUMNS, RowReport, read_texts

    texts = []
    for path in paths:
        texts += read_texts(path, report=RowReport.added_to(reports, path, strict), candidates=("headline", *TEXT_COLUMNS))
    return texts
