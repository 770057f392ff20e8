"""Fine-tune a pretrained encoder into a calibrated text classifier, sklearn-style.

    clf = TextClassifier(config=FineTuneConfig(mode="full")).fit(texts, labels, eval_data=(vt, vl))
    clf.predict_proba(["where is my card?"])     # (n, k), rows sum to 1, calibrated
    clf.evaluate(test_texts, test_labels)        # accuracy, macro-F1, per label, confusions, ECE
    clf.save("var/models/intent")                # HF model dir + labels/metrics/config + manifest
    TextClassifier.load("var/models/intent")     # verifies the manifest first

Two modes share that API:
- ``full``: every weight is fine-tuned by ``transformers.Trainer`` (AdamW, weight decay, linear
  warm-up, dynamic padding, early stopping on validation, best checkpoint restored). With the
  default ``pooling="mean"`` the head is first fitted as a linear probe on the frozen encoder's
  sentence embeddings, then everything is fine-tuned (LP-FT), and finally the weights are
  interpolated back towards the probe by an amount picked on validation (WiSE-FT). With
  ``pooling="cls"`` the model is the stock ``BertForSequenceClassification`` and its directory
  loads in ``transformers.pipeline("text-classification", model=DIR)`` as it is.
- ``fast``: the encoder stays frozen; a logistic-regression head is fitted on its mean-pooled
  sentence embeddings (what all-MiniLM-L6-v2 was trained to produce) in seconds.

Saved directories hold a Hugging Face model directory (``config.json`` + ``model.safetensors`` +
tokenizer): at the top for the stock architecture, in ``encoder/`` for mean-pooling models, whose
head is ``head.safetensors``.

A mean-pooling classifier also hands out what it computes on the way to its logits:
``embed(texts)`` (unit sentence vectors) and ``proba_from_embeddings(vectors)`` (its head and
temperature applied to them). ``TextClassifier(keep_fit_embeddings=True)`` keeps the vectors fast
mode computes while fitting (``fit_embeddings()``), so a caller that needs them does not encode
the training data twice. How the fitting works lives in ``shared.training``, the torch modules in
``shared.modeling``, the settings in ``shared.finetune_config``.
"""


from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import artifacts, training
from .encoder import resolve_encoder
from .errors import ConfigError, DataError
from .finetune_config import FineTuneConfig
from .metrics import calibrated_softmax, expected_calibration_error, fit_temperature
from .modeling import MeanPoolingClassifier, ProbabilisticTextClassifier, by_length, check_texts, label_gaps
from .onnx_runtime import OnnxClassifier, export_onnx

ARTIFACT_KIND = "text-classifier"
GUARD_FILE = "guard.jsonl"  # validation rows kept to check continual learning against (see fit)
_PARAMS = ("base_model", "config", "keep_fit_embeddings")


def _read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


class TextClassifier(ProbabilisticTextClassifier):
    """A pretrained encoder fine-tuned (or probed, in fast mode) into a calibrated classifier.

    ``keep_fit_embeddings=True``: fast mode keeps the sentence vector of every text it fits on
    (training and validation), by text, for ``fit_embeddings()``. Full mode changes the encoder
    after its linear-probe stage, so it keeps none: vectors recorded there would be stale.
    """

    def __init__(self, base_model: str | None = None, config: FineTuneConfig | None = None, keep_fit_embeddings: bool = False):
        self.base_model = base_model
        self.config = config or FineTuneConfig()
        self.keep_fit_embeddings = keep_fit_embeddings

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's arguments, as scikit-learn's estimators report them."""
        return {name: getattr(self, name) for name in _PARAMS}

    def set_params(self, **params) -> TextClassifier:
        """Change constructor arguments (``get_params``' names); returns self."""
        unknown = sorted(set(params) - set(_PARAMS))
        if unknown:
            raise ConfigError(f"unknown parameter(s) {', '.join(unknown)}; expected some of {', '.join(_PARAMS)}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    # ---- training -------------------------------------------------------------------------

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        eval_data: tuple | None = None,
        *,
        warm_start: bool = False,
        progress: bool = True,
        objective=None,
    ):
        """Train on (texts, labels); ``eval_data=(texts, labels)`` drives early stopping and calibration.

        Without ``eval_data`` a stratified ``validation_fraction`` of the training data is held out.
        ``warm_start=True`` continues from the weights this instance already holds (trained or
        loaded) instead of the base encoder; labels may be added, and the head rows of labels
        it already knew are kept. ``objective``: full mode trains by it instead of cross-entropy
        (``shared.training.fit_full``; ``shared.distillation.distil`` passes one). Returns self.
        """
        from transformers import AutoTokenizer, set_seed

        started = time.perf_counter()
        texts = check_texts(texts)
        labels = [str(label) for label in labels]
        if len(texts) != len(labels):
            raise DataError(f"{len(texts)} texts but {len(labels)} labels")
        if len(set(labels)) < 2:
            raise DataError("training needs at least two different labels")
        cfg = self.config
        if objective is not None and cfg.mode != "full":
            raise ConfigError("a training objective (distillation) needs mode='full'")
        warm = warm_start and hasattr(self, "model_")
        if warm and self.architecture != self._architecture_for(cfg):
            raise ConfigError(f"cannot warm-start a {self.architecture} model with mode={cfg.mode}, pooling={cfg.pooling}")
        old_labels = self.labels_ if warm else None
        set_seed(cfg.seed)
        self.labels_ = sorted(set(labels))
        (texts, y), (eval_texts, eval_y) = self._split(texts, labels, eval_data)

        if not warm:
            self.base_model_path_ = resolve_encoder(self.base_model)
            self.tokenizer_ = AutoTokenizer.from_pretrained(self.base_model_path_, local_files_only=True)
            self.model_ = self._fresh_model()
        elif self.architecture == "sequence-classification":
            training.resize_head(self.model_, old_labels, self.labels_)
        self.max_length_ = cfg.max_length
        self.batch_size = cfg.inference_batch_size
        if cfg.mode == "full":
            # Continued training on the labels the model has: keep its trained head. A probe refitted on a
            # few new examples (and the replay) would throw away what the head learned from all the data.
            keep_head = warm and old_labels == self.labels_
            training.fit_full(self, texts, y, eval_texts, eval_y, progress, keep_head=keep_head, objective=objective)
        else:
            embedded = training.fit_fast(self, texts, y, eval_texts, eval_y, progress)
            if self.keep_fit_embeddings:
                kept = self.fit_embeddings_ = getattr(self, "fit_embeddings_", {})
                for part, vectors in embedded:
                    kept.update(zip(part, vectors))
        self.model_.eval()
        self._calibrate(texts, eval_texts, eval_y)
        self.metrics_["wall_time_s"] = round(time.perf_counter() - started, 1)
        # Replay only training examples: validation rows may be someone's held-out set later.
        self.replay_ = training.sample_per_label(texts, y, self.labels_, cfg.replay_per_label, cfg.seed)
        if not warm:
            # The guard: validation rows no version of this model trains on, kept so that continual learning
            # can check a candidate against data it never saw (shared.continual.retrain). A warm start keeps
            # the first model's guard: its own validation rows include replayed training examples.
            keep = sorted(random.Random(cfg.seed).sample(range(len(eval_texts)), min(len(eval_texts), cfg.guard_size)))
            self.guard_ = [{"text": eval_texts[i], "label": self.labels_[eval_y[i]]} for i in keep]
        return self

    def _split(self, texts: list[str], labels: list[str], eval_data) -> tuple:
        """((texts, ids), (validation texts, ids)): ``eval_data``, else a stratified hold-out, else none."""
        y = self.label_ids(labels)
        if eval_data is not None:
            return (texts, y), (check_texts(eval_data[0]), self.label_ids(eval_data[1]))
        if self.config.validation_fraction > 0 and len(texts) >= 20:
            return training.stratified_split(texts, y, self.config.validation_fraction, self.config.seed)
        return (texts, y), ([], np.zeros(0, dtype=int))

    def _calibrate(self, texts: list[str], eval_texts: list[str], eval_y: np.ndarray) -> None:
        """Fit the temperature on validation and record the metrics (``metrics_``)."""
        self.temperature_ = 1.0
        self.metrics_ = {"train_examples": len(texts), "validation_examples": len(eval_texts)}
        for name in ("linear_probe", "soup", "interpolation"):
            if hasattr(self, name + "_"):
                self.metrics_[name] = getattr(self, name + "_")
        if len(eval_texts):
            logits = self.decision_function(eval_texts)
            self.metrics_["ece_before_calibration"] = expected_calibration_error(calibrated_softmax(logits), eval_y)
            if self.config.calibrate:
                self.temperature_ = fit_temperature(logits, eval_y)
            self.metrics_["temperature"] = self.temperature_
            self.metrics_["validation"] = self.evaluate(eval_texts, [self.labels_[i] for i in eval_y])
            self.metrics_["ece_after_calibration"] = self.metrics_["validation"]["ece"]

    def _fresh_model(self) -> nn.Module:
        from transformers import AutoModel, AutoModelForSequenceClassification

        options = {"local_files_only": True, "trust_remote_code": False}
        if self._architecture_for(self.config) == "sequence-classification":
            return AutoModelForSequenceClassification.from_pretrained(self.base_model_path_, num_labels=len(self.labels_), **options)
        return MeanPoolingClassifier(AutoModel.from_pretrained(self.base_model_path_, **options), len(self.labels_))

    # ---- sentence embeddings (mean-pooling models) ----------------------------------------------

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """The model's own sentence embeddings, (n, dim) float32 unit rows: what its head reads."""
        if self.architecture != "mean-pooling":
            raise ConfigError("only a mean-pooling classifier (fast mode, or full mode with pooling='mean') has sentence embeddings")

        def embed_batch(batch):
            encoded = self._tokenize(batch)
            with torch.inference_mode():
                return self.model_.embed(encoded["input_ids"], encoded["attention_mask"]).numpy()

        return by_length(check_texts(texts), self.batch_size, embed_batch, self.model_.head.in_features, progress, "embedding")

    def proba_from_embeddings(self, vectors: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, (n, k), from vectors ``embed`` gave: the head and temperature applied in numpy."""
        if self.architecture != "mean-pooling":
            raise ConfigError("only a mean-pooling classifier (fast mode, or full mode with pooling='mean') has sentence embeddings")
        weight = self.model_.head.weight.detach().numpy()
        bias = self.model_.head.bias.detach().numpy()
        logits = np.asarray(vectors).astype(np.float64) @ weight.T.astype(np.float64) + bias
        return calibrated_softmax(logits, self.temperature_)

    def fit_embeddings(self) -> dict[str, np.ndarray]:
        """Text → sentence vector of what fast mode embedded while fitting (``keep_fit_embeddings=True``; else empty)."""
        return getattr(self, "fit_embeddings_", {})

    def forget_fit_embeddings(self) -> None:
        """Drop the kept vectors (they take dim floats per text)."""
        self.fit_embeddings_ = {}

    # ---- inference -----------------------------------------------------------------------

    def _tokenize(self, texts: list[str]):
        return self.tokenizer_(texts, padding=True, truncation=True, max_length=self.max_length_, return_tensors="pt")

    def _batch_logits(self, texts: list[str]) -> np.ndarray:
        encoded = self._tokenize(texts)
        with torch.inference_mode():
            output = self.model_(input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"])
        logits = output.logits if hasattr(output, "logits") else output
        return logits.float().numpy()

    @property
    def mode(self) -> str:
        return self.config.mode

    @property
    def metrics(self) -> dict:
        """What the last fit measured (examples, validation report, calibration); saved with the model."""
        return getattr(self, "metrics_", {})

    @property
    def architecture(self) -> str:
        return "mean-pooling" if isinstance(self.model_, MeanPoolingClassifier) else "sequence-classification"

    @staticmethod
    def _hf_subdir(architecture: str) -> str:
        # A stock sequence classifier sits at the top, where transformers.pipeline finds it. A
        # mean-pooling model's encoder goes in encoder/ (a plain HF/sentence-transformers model
        # directory): at the top, pipeline would silently attach a random head to it.
        return "" if architecture == "sequence-classification" else "encoder"

    @staticmethod
    def _architecture_for(config: FineTuneConfig) -> str:
        return "sequence-classification" if config.mode == "full" and config.pooling == "cls" else "mean-pooling"

    # ---- persistence ---------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the model directory atomically; the directory it replaces is kept as ``.previous``."""
        from safetensors.torch import save_file

        path = Path(path)
        with artifacts.atomic_dir(path) as tmp:
            hf_dir = tmp / self._hf_subdir(self.architecture)
            if self.architecture == "sequence-classification":
                self.model_.save_pretrained(hf_dir)
            else:
                self.model_.encoder.save_pretrained(hf_dir)
                save_file({k: v.contiguous() for k, v in self.model_.head.state_dict().items()}, tmp / "head.safetensors")
            self.tokenizer_.save_pretrained(hf_dir)
            (tmp / "labels.json").write_text(json.dumps(self.labels_, indent=1, ensure_ascii=False))
            (tmp / "metrics.json").write_text(json.dumps(getattr(self, "metrics_", {}), indent=1, ensure_ascii=False))
            (tmp / "training_config.json").write_text(json.dumps(asdict(self.config), indent=1))
            (tmp / "classifier.json").write_text(
                json.dumps(
                    {
                        "mode": self.mode,
                        "architecture": self.architecture,
                        "temperature": self.temperature_,
                        "max_length": self.max_length_,
                        "base_model": str(self.base_model or "all-MiniLM-L6-v2"),
                    },
                    indent=1,
                )
            )
            for name, rows in (("replay.jsonl", getattr(self, "replay_", [])), (GUARD_FILE, getattr(self, "guard_", []))):
                with open(tmp / name, "w", encoding="utf-8") as fh:
                    for row in rows:
                        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            artifacts.write_manifest(tmp, ARTIFACT_KIND)
        return path

    @classmethod
    def load(cls, path: str | Path) -> TextClassifier:
        """Load a saved classifier after verifying every file against the manifest."""
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

        path = Path(path)
        artifacts.verify_manifest(path, kind=ARTIFACT_KIND)
        meta = json.loads((path / "classifier.json").read_text())
        self = cls(config=FineTuneConfig.from_dict(json.loads((path / "training_config.json").read_text())))
        self.base_model = meta.get("base_model")
        self.labels_ = json.loads((path / "labels.json").read_text())
        self.metrics_ = json.loads((path / "metrics.json").read_text())
        self.temperature_ = float(meta["temperature"])
        self.max_length_ = int(meta["max_length"])
        self.batch_size = self.config.inference_batch_size
        hf_dir = path / cls._hf_subdir(meta["architecture"])
        self.base_model_path_ = str(hf_dir)
        self.tokenizer_ = AutoTokenizer.from_pretrained(hf_dir, local_files_only=True)
        options = {"local_files_only": True, "trust_remote_code": False, "use_safetensors": True}
        if meta["architecture"] == "sequence-classification":
            self.model_ = AutoModelForSequenceClassification.from_pretrained(hf_dir, **options)
        else:
            self.model_ = MeanPoolingClassifier(AutoModel.from_pretrained(hf_dir, **options), len(self.labels_))
            self.model_.head.load_state_dict(load_file(path / "head.safetensors"))
        self.model_.eval()
        self.replay_ = _read_rows(path / "replay.jsonl")
        self.guard_ = _read_rows(path / GUARD_FILE) if (path / GUARD_FILE).is_file() else []  # older models have none
        return self

    def replay_data(self) -> tuple[list[str], list[str]]:
        """The sample of past training examples kept for continual learning."""
        return [row["text"] for row in self.replay_], [row["label"] for row in self.replay_]

    def guard_data(self) -> tuple[list[str], list[str]]:
        """Validation rows of the first training, never trained on (empty when it had none)."""
        rows = getattr(self, "guard_", [])
        return [row["text"] for row in rows], [row["label"] for row in rows]

    def export_onnx(self, out_dir: str | Path, *, quantize: bool = True) -> OnnxClassifier:
        """Export to ONNX (int8 dynamic quantisation by default); returns an ``OnnxClassifier``."""
        return export_onnx(self, out_dir, quantize=quantize)


def load_classifier(model_dir: str | Path) -> TextClassifier | OnnxClassifier:
    """A saved torch model directory or its ONNX export, told apart and verified by its manifest."""
    if artifacts.is_onnx_export(model_dir):
        return OnnxClassifier.load(model_dir)
    return TextClassifier.load(model_dir)


def is_trained_classifier(path) -> bool:
    """Whether ``path`` is a saved ``TextClassifier`` directory (a model to reuse) rather than an encoder."""
    path = Path(path)
    return (path / artifacts.MANIFEST).is_file() and (path / "classifier.json").is_file()


def train_classifier(base_model: str | None, config: FineTuneConfig, texts: Sequence[str], labels: Sequence[str], *,
                     eval_data: tuple | None = None, distillation=None, keep_fit_embeddings: bool = False,
                     progress: bool = True) -> TextClassifier:
    """The classifier a training command serves: fitted on (texts, labels) from ``base_model`` (an encoder name or
    directory; None: the default), distilled from a teacher when ``distillation`` (a ``DistillationPlan``) is given,
    or, where ``base_model`` is a saved classifier directory (such as the ``OUT-teacher`` of an earlier
    ``--teacher`` run), that classifier as it is, not trained again: how a trained teacher becomes the served
    accurate tier. Its labels must be those of the data."""
    if base_model and is_trained_classifier(base_model):
        if distillation is not None:
            raise ConfigError(f"{base_model} is a trained model, served as it is: it takes no --teacher")
        clf = TextClassifier.load(base_model)
        gaps = label_gaps(clf.labels, [str(label) for label in labels])
        if gaps:
            raise ConfigError(f"{base_model} was trained on other labels than the data's; {gaps}: train it on these files, or pass an encoder as --base-model")
        clf.metrics_["reused_from"] = str(base_model)
        if eval_data is not None:
            clf.metrics_["validation"] = clf.evaluate(*eval_data)
        return clf
    clf = TextClassifier(base_model, config, keep_fit_embeddings=keep_fit_embeddings)
    if distillation is not None:
        return distillation.train_student(clf, texts, labels, eval_data=eval_data, progress=progress)
    return clf.fit(texts, labels, eval_data=eval_data, progress=progress)
