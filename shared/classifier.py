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
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import artifacts
from .encoder import resolve_encoder
from .errors import ConfigError, DataError
from .metrics import calibrated_softmax, classification_report, expected_calibration_error, fit_temperature

ARTIFACT_KIND = "text-classifier"
GUARD_FILE = "guard.jsonl"  # validation rows kept to check continual learning against (see fit)
MODES = ("full", "fast")


@dataclass
class FineTuneConfig:
    """How to train. Defaults were chosen on BANKING77's validation split (see bench/)."""

    mode: str = "full"
    # Full mode only. "mean": sentence-embedding pooling, head first fitted as in fast mode, then
    # every weight fine-tuned (LP-FT). "cls": the stock BertForSequenceClassification, which
    # ``transformers.pipeline`` loads as it is. Fast mode always uses "mean".
    pooling: str = "mean"
    epochs: float = 6.0
    learning_rate: float = 5e-5
    batch_size: int = 32
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_length: int = 128
    early_stopping_patience: int = 2
    metric: str = "accuracy"  # or "macro_f1": what early stopping and model selection maximise
    class_weight: str | None = "balanced"  # reweights the loss so rare labels count as much as common ones
    label_smoothing: float = 0.0
    # Full mode: R-Drop (Liang et al. 2021). Each batch goes through the model twice (two dropout
    # masks) and the two predictions are pulled together by this weight times their symmetric KL
    # divergence; 0 turns it off. Twice the training compute, nothing at inference.
    rdrop: float = 0.0
    # Full mode: layer-wise learning-rate decay (Clark et al. 2020). The head and pooler train at
    # ``learning_rate``, each encoder layer below at this factor times the one above, the embeddings
    # lowest; 1.0 (one rate for all) turns it off.
    layer_decay: float = 1.0
    calibrate: bool = True
    validation_fraction: float = 0.1  # carved from the training data when no eval_data is given
    fast_c_grid: tuple[float, ...] = (1.0, 4.0, 16.0, 64.0)  # inverse regularisation tried in fast mode
    replay_per_label: int = 25  # examples per label kept in the model dir for continual learning
    # Validation rows kept in the model dir, a uniform sample (label shares as in the data, so its accuracy is
    # the validation accuracy's estimate): the guard a retrained candidate is checked on (shared.continual).
    guard_size: int = 500
    # LP-FT only: after fine-tuning, weights are interpolated back towards the linear-probe model,
    # w = (1 - a) * w_finetuned + a * w_probe, with ``a`` picked on validation from this grid
    # (WiSE-FT, Wortsman et al. 2022). (0.0,) turns it off.
    interpolation_grid: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
    # Full mode: fine-tune this many times from the same starting weights (seeds seed, seed+1, ...)
    # and average the weights: a uniform "model soup" (Wortsman et al. 2022), one model's cost
    # to serve, ``soup`` times the training time.
    soup: int = 1
    seed: int = 42

    def __post_init__(self):
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {MODES}, not {self.mode!r}")
        if self.pooling not in ("mean", "cls"):
            raise ConfigError(f"pooling must be 'mean' or 'cls', not {self.pooling!r}")
        if self.metric not in ("accuracy", "macro_f1"):
            raise ConfigError(f"metric must be 'accuracy' or 'macro_f1', not {self.metric!r}")
        if self.class_weight not in (None, "balanced"):
            raise ConfigError(f"class_weight must be None or 'balanced', not {self.class_weight!r}")
        positive = {"epochs": self.epochs, "learning_rate": self.learning_rate, "batch_size": self.batch_size, "max_length": self.max_length}
        for name, value in positive.items():
            if value <= 0:
                raise ConfigError(f"{name} must be positive, got {value}")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if not 0 <= self.validation_fraction < 1:
            raise ConfigError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if not 0 < self.layer_decay <= 1:
            raise ConfigError(f"layer_decay must be in (0, 1], 1 being off, got {self.layer_decay}")
        if self.rdrop < 0:
            raise ConfigError(f"rdrop must be 0 (off) or a positive weight, got {self.rdrop}")
        self.fast_c_grid = tuple(float(c) for c in self.fast_c_grid)
        if not self.fast_c_grid or min(self.fast_c_grid) <= 0:
            raise ConfigError("fast_c_grid needs at least one positive value")
        if not isinstance(self.guard_size, int) or self.guard_size < 0:
            raise ConfigError(f"guard_size must be a whole number of validation rows (0 or more), got {self.guard_size!r}")
        if not isinstance(self.soup, int) or self.soup < 1:
            raise ConfigError(f"soup must be a whole number of fine-tuning runs (1 or more), got {self.soup!r}")
        self.interpolation_grid = tuple(float(a) for a in self.interpolation_grid)
        if not self.interpolation_grid or not all(0 <= a < 1 for a in self.interpolation_grid):
            raise ConfigError("interpolation_grid needs values in [0, 1)")

    @property
    def inference_batch_size(self) -> int:
        # No gradients to hold at inference, so bigger batches than training's are cheap.
        return max(self.batch_size, 64)

    @classmethod
    def from_dict(cls, values: dict) -> "FineTuneConfig":
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def config_from_cli(mode: str, sets: Sequence[str], **options) -> FineTuneConfig:
    """The training settings a command line gives: its own options (None: not given), then its ``--set`` items."""
    return FineTuneConfig(mode=mode, **{k: v for k, v in options.items() if v is not None} | parse_overrides(sets))


def parse_overrides(items: Sequence[str]) -> dict:
    """``["learning_rate=1e-4", "soup=3"]`` → ``{"learning_rate": 0.0001, "soup": 3}``, typed as the fields'
    defaults; a ConfigError names an unknown field or a value of the wrong kind."""
    defaults, fields = FineTuneConfig(), FineTuneConfig.__dataclass_fields__
    values = {}
    for item in items:
        key, sep, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not sep or key not in fields or key == "mode":  # --mode is its own option
            known = ", ".join(sorted(f for f in fields if f != "mode"))
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE with KEY one of {known}")
        default = getattr(defaults, key)
        try:
            if isinstance(default, bool):
                if text.lower() not in ("true", "false"):
                    raise ValueError
                value = text.lower() == "true"
            elif isinstance(default, tuple):
                value = tuple(float(v) for v in text.split(","))
            elif key == "class_weight":  # "balanced", or none for no reweighting
                value = None if text.lower() == "none" else text
            else:
                value = type(default)(text)
        except ValueError:
            raise ConfigError(f"--set {item!r}: {text!r} is not a valid {type(default).__name__} (the default is {default!r})") from None
        values[key] = value
    return values


def _check_texts(texts) -> list[str]:
    if isinstance(texts, str):
        raise DataError("expected a list of texts, got a single string; wrap it in a list")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataError(f"text {i} is a {type(text).__name__}, not a string")
    return texts


def _by_length(texts: list[str], batch_size: int, fn, width: int, progress: bool = False, desc: str = "",
               workers: int = 1) -> np.ndarray:
    """Apply ``fn`` to batches of similar length (little padding), results in the input order;
    ``workers`` > 1 runs that many batches at once (for an ``fn`` that releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    out = np.empty((len(texts), width), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    bar = tqdm(total=len(batches), desc=desc, unit="batch", disable=not progress or len(batches) < 2)
    if workers > 1 and len(batches) > 1:
        with ThreadPoolExecutor(min(workers, len(batches))) as pool:
            results = pool.map(lambda idx: fn([texts[i] for i in idx]), batches)
            for idx, logits in zip(batches, results):
                out[idx] = logits
                bar.update()
    else:
        for idx in batches:
            out[idx] = fn([texts[i] for i in idx])
            bar.update()
    bar.close()
    return out


class ProbabilisticTextClassifier:
    """What every runtime shares: batching, calibrated probabilities, labels and evaluation.

    Subclasses supply ``_batch_logits(texts) -> np.ndarray`` for one batch.
    """

    labels_: list[str]
    temperature_: float = 1.0
    batch_size: int = 64
    workers: int = 1  # batches scored at once (see OnnxClassifier)

    def _batch_logits(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Uncalibrated logits, (n, k)."""
        return _by_length(_check_texts(texts), self.batch_size, self._batch_logits, len(self.labels_), workers=self.workers)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, (n, k); columns follow ``labels_``."""
        return calibrated_softmax(self.decision_function(texts), self.temperature_)

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [self.labels_[i] for i in self.predict_proba(texts).argmax(axis=1)]

    def label_ids(self, labels: Sequence[str]) -> np.ndarray:
        index = {label: i for i, label in enumerate(self.labels_)}
        unknown = sorted({label for label in labels if label not in index})
        if unknown:
            shown = ", ".join(unknown[:5]) + (f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else "")
            raise DataError(f"labels the model was not trained on: {shown}")
        return np.array([index[label] for label in labels])

    def evaluate(self, texts: Sequence[str], labels: Sequence[str]) -> dict:
        """Accuracy, macro-F1, per-label P/R/F1, most confused pairs, calibration error."""
        texts = _check_texts(texts)
        if len(texts) != len(labels):
            raise DataError(f"{len(texts)} texts but {len(labels)} labels")
        if not texts:
            raise DataError("nothing to evaluate: no examples")
        y = self.label_ids(labels)
        probs = self.predict_proba(texts)
        report = classification_report(list(labels), [self.labels_[i] for i in probs.argmax(axis=1)], self.labels_)
        report["ece"] = expected_calibration_error(probs, y)
        return report


class MeanPoolingClassifier(nn.Module):
    """Sentence-transformers-style embedding (mean over tokens, L2-normalised) + a linear head."""

    def __init__(self, encoder: nn.Module, num_labels: int):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)

    def embed(self, input_ids, attention_mask):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, dim=-1)

    def forward(self, input_ids, attention_mask, token_type_ids=None, labels=None):
        from transformers.modeling_outputs import SequenceClassifierOutput

        # Trainer reads this signature: ``labels`` must be named here to reach the loss function.
        # token_type_ids are all zero for single sentences, the encoder's default, so unused.
        return SequenceClassifierOutput(logits=self.head(self.embed(input_ids, attention_mask)))


class _Encoded(torch.utils.data.Dataset):
    """Tokenised examples for Trainer; padding happens per batch (DataCollatorWithPadding)."""

    def __init__(self, tokenizer, texts: list[str], y: np.ndarray, max_length: int):
        self.features = tokenizer(texts, truncation=True, max_length=max_length)
        self.y = y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        item = {key: values[i] for key, values in self.features.items()}
        item["labels"] = int(self.y[i])
        return item


def _rdrop_trainer():
    from transformers import Trainer

    class RDropTrainer(Trainer):
        """Trains on every batch twice over, stacked, so that one forward pass gives two dropout samples."""

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if model.training:
                inputs = {k: torch.cat([v, v]) if k != "labels" else v for k, v in inputs.items()}
            return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)

    return RDropTrainer


def _layerwise_optimizer(model: nn.Module, cfg: FineTuneConfig) -> torch.optim.Optimizer:
    """AdamW whose learning rate falls by ``cfg.layer_decay`` per layer from the head down to the
    embeddings; biases and LayerNorm weights without weight decay, as Trainer's own optimizer."""
    layers = model.config.num_hidden_layers if hasattr(model, "config") else model.encoder.config.num_hidden_layers

    def depth(name: str) -> int:  # 0 = embeddings, 1..layers = encoder layers, layers + 1 = pooler and head
        if ".embeddings." in f".{name}":
            return 0
        if ".encoder.layer." in f".{name}":
            return int(name.split("encoder.layer.")[1].split(".")[0]) + 1
        return layers + 1

    groups: dict[tuple[int, bool], list] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            no_decay = name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name
            groups.setdefault((depth(name), no_decay), []).append(param)
    return torch.optim.AdamW([{"params": params, "lr": cfg.learning_rate * cfg.layer_decay ** (layers + 1 - d),
                               "weight_decay": 0.0 if no_decay else cfg.weight_decay}
                              for (d, no_decay), params in sorted(groups.items())], lr=cfg.learning_rate)


def _read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _indices_by_label(y) -> dict[int, list[int]]:
    """Row indices of each label id, labels in ascending order."""
    by_label: dict[int, list[int]] = {}
    for i, label in enumerate(y):
        by_label.setdefault(int(label), []).append(i)
    return dict(sorted(by_label.items()))


def _stratified_split(texts, y, fraction, seed):
    """Hold out ``fraction`` of each label with at least 2 examples (for early stopping/calibration)."""
    rng = random.Random(seed)
    held = []
    for idx in _indices_by_label(y).values():
        rng.shuffle(idx)
        if len(idx) >= 2:
            held.extend(idx[: max(1, round(fraction * len(idx)))])
    held_set = set(held)
    keep = [i for i in range(len(texts)) if i not in held_set]
    pick = lambda ids: ([texts[i] for i in ids], y[ids])  # noqa: E731
    return pick(np.array(keep, dtype=int)), pick(np.array(sorted(held), dtype=int))


def _resize_head(model, old_labels: list[str], new_labels: list[str]) -> None:
    """Give a sequence-classification model one output per new label, keeping known labels' rows."""
    old = model.classifier
    new = nn.Linear(old.in_features, len(new_labels))
    nn.init.normal_(new.weight, std=model.config.initializer_range)
    nn.init.zeros_(new.bias)
    old_index = {label: i for i, label in enumerate(old_labels)}
    with torch.no_grad():
        for j, label in enumerate(new_labels):
            if label in old_index:
                new.weight[j] = old.weight[old_index[label]]
                new.bias[j] = old.bias[old_index[label]]
    model.classifier = new
    model.num_labels = len(new_labels)
    model.config.num_labels = len(new_labels)
    _name_labels(model, new_labels)


def _name_labels(model, labels: list[str]) -> None:
    """Label names in the HF config, so pipeline() and model cards show them."""
    model.config.id2label = dict(enumerate(labels))
    model.config.label2id = {label: i for i, label in enumerate(labels)}


class TextClassifier(ProbabilisticTextClassifier):
    """A pretrained encoder fine-tuned (or probed, in fast mode) into a calibrated classifier."""

    def __init__(self, base_model: str | None = None, config: FineTuneConfig | None = None):
        self.base_model = base_model
        self.config = config or FineTuneConfig()

    # ---- training -------------------------------------------------------------------------

    def fit(
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        eval_data: tuple | None = None,
        *,
        warm_start: bool = False,
        progress: bool = True,
    ):
        """Train on (texts, labels); ``eval_data=(texts, labels)`` drives early stopping and calibration.

        Without ``eval_data`` a stratified ``validation_fraction`` of the training data is held out.
        ``warm_start=True`` continues from the weights this instance already holds (trained or
        loaded) instead of the base encoder; labels may be added, and the head rows of labels
        it already knew are kept. Returns self.
        """
        from transformers import AutoTokenizer, set_seed

        texts = _check_texts(texts)
        labels = [str(label) for label in labels]
        if len(texts) != len(labels):
            raise DataError(f"{len(texts)} texts but {len(labels)} labels")
        if len(set(labels)) < 2:
            raise DataError("training needs at least two different labels")
        cfg = self.config
        warm = warm_start and hasattr(self, "model_")
        if warm and self.architecture != self._architecture_for(cfg):
            raise ConfigError(f"cannot warm-start a {self.architecture} model with mode={cfg.mode}, pooling={cfg.pooling}")
        old_labels = self.labels_ if warm else None
        set_seed(cfg.seed)
        self.labels_ = sorted(set(labels))
        y = self.label_ids(labels)
        if eval_data is not None:
            eval_texts = _check_texts(eval_data[0])
            eval_y = self.label_ids(eval_data[1])
        elif cfg.validation_fraction > 0 and len(texts) >= 20:
            (texts, y), (eval_texts, eval_y) = _stratified_split(texts, y, cfg.validation_fraction, cfg.seed)
        else:
            eval_texts, eval_y = [], np.zeros(0, dtype=int)

        if not warm:
            self.base_model_path_ = resolve_encoder(self.base_model)
            self.tokenizer_ = AutoTokenizer.from_pretrained(self.base_model_path_, local_files_only=True)
            self.model_ = self._fresh_model()
        elif self.architecture == "sequence-classification":
            _resize_head(self.model_, old_labels, self.labels_)
        self.max_length_ = cfg.max_length
        self.batch_size = cfg.inference_batch_size
        if cfg.mode == "full":
            # Continued training on the labels the model has: keep its trained head. A probe refitted on a
            # few new examples (and the replay) would throw away what the head learned from all the data.
            keep_head = warm and old_labels == self.labels_
            self._fit_full(texts, y, eval_texts, eval_y, progress, keep_head=keep_head)
        else:
            self._fit_fast(texts, y, eval_texts, eval_y, progress)
        self.model_.eval()

        self.temperature_ = 1.0
        self.metrics_ = {"train_examples": len(texts), "validation_examples": len(eval_texts)}
        for name in ("linear_probe", "soup", "interpolation"):
            if hasattr(self, name + "_"):
                self.metrics_[name] = getattr(self, name + "_")
        if len(eval_texts):
            logits = self.decision_function(eval_texts)
            self.metrics_["ece_before_calibration"] = expected_calibration_error(calibrated_softmax(logits), eval_y)
            if cfg.calibrate:
                self.temperature_ = fit_temperature(logits, eval_y)
            self.metrics_["temperature"] = self.temperature_
            self.metrics_["validation"] = self.evaluate(eval_texts, [self.labels_[i] for i in eval_y])
            self.metrics_["ece_after_calibration"] = self.metrics_["validation"]["ece"]
        # Replay only training examples: validation rows may be someone's held-out set later.
        self.replay_ = self._sample_per_label(texts, y)
        if not warm:
            # The guard: validation rows no version of this model trains on, kept so that continual learning
            # can check a candidate against data it never saw (shared.continual.retrain). A warm start keeps
            # the first model's guard: its own validation rows include replayed training examples.
            keep = sorted(random.Random(cfg.seed).sample(range(len(eval_texts)), min(len(eval_texts), cfg.guard_size)))
            self.guard_ = [{"text": eval_texts[i], "label": self.labels_[eval_y[i]]} for i in keep]
        return self

    def _fresh_model(self) -> nn.Module:
        from transformers import AutoModel, AutoModelForSequenceClassification

        options = {"local_files_only": True, "trust_remote_code": False}
        if self._architecture_for(self.config) == "sequence-classification":
            return AutoModelForSequenceClassification.from_pretrained(self.base_model_path_, num_labels=len(self.labels_), **options)
        return MeanPoolingClassifier(AutoModel.from_pretrained(self.base_model_path_, **options), len(self.labels_))

    def _class_weights(self, y: np.ndarray) -> np.ndarray | None:
        if self.config.class_weight != "balanced":
            return None
        counts = np.bincount(y, minlength=len(self.labels_)).astype(np.float64)
        weights = np.where(counts > 0, len(y) / (len(self.labels_) * np.maximum(counts, 1)), 0.0)
        return weights

    def _fit_full(self, texts, y, eval_texts, eval_y, progress, keep_head: bool = False):
        cfg = self.config
        model = self.model_
        if isinstance(model, MeanPoolingClassifier):
            # Linear probe first: fine-tuning then starts from a good head instead of a random one,
            # which keeps the pretrained features from being distorted early on (Kumar et al., 2022).
            # With keep_head the trained model is the start, and the interpolation below goes back towards it.
            if not keep_head:
                self._fit_fast(texts, y, eval_texts, eval_y, progress)
            probe_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            _name_labels(model, self.labels_)
        weights = self._class_weights(y)
        weight_tensor = None if weights is None else torch.tensor(weights, dtype=torch.float32)

        def loss(outputs, labels, num_items_in_batch=None):
            logits = outputs.logits
            if len(logits) == 2 * len(labels):  # an R-Drop batch: two dropout passes, stacked (_rdrop_trainer)
                first, second = logits.chunk(2)
                cross_entropy = sum(nn.functional.cross_entropy(half, labels, weight=weight_tensor, label_smoothing=cfg.label_smoothing)
                                    for half in (first, second)) / 2
                p, q = first.log_softmax(-1), second.log_softmax(-1)
                divergence = (nn.functional.kl_div(p, q, log_target=True, reduction="batchmean")
                              + nn.functional.kl_div(q, p, log_target=True, reduction="batchmean")) / 2
                return cross_entropy + cfg.rdrop * divergence
            return nn.functional.cross_entropy(logits, labels, weight=weight_tensor, label_smoothing=cfg.label_smoothing)

        def compute_metrics(prediction):
            pred = prediction.predictions.argmax(-1)
            report = classification_report(prediction.label_ids, pred, range(len(self.labels_)), top_confusions=0)
            return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}

        has_eval = len(eval_texts) > 0
        start = {k: v.detach().clone() for k, v in model.state_dict().items()}
        members, self.training_log_ = [], []
        for member in range(cfg.soup):
            model.load_state_dict(start)
            trained, log = self._train_once(model, texts, y, eval_texts, eval_y, cfg.seed + member, loss, compute_metrics, progress)
            members.append({k: v.detach().clone() for k, v in trained.state_dict().items()})
            self.training_log_ += log
        model = trained.to("cpu")
        if cfg.soup > 1:
            scores = [self._score_weights(model, weights, eval_texts, eval_y) if has_eval else None for weights in members]
            model.load_state_dict({k: torch.stack([m[k] for m in members]).mean(0) if v.is_floating_point() else v
                                   for k, v in members[0].items()})
            self.soup_ = {"members": scores, "soup": self._score_weights(model, None, eval_texts, eval_y) if has_eval else None}
        self.model_ = model.eval()
        if isinstance(self.model_, MeanPoolingClassifier) and has_eval and len(cfg.interpolation_grid) > 1:
            self._interpolate_towards(probe_weights, eval_texts, eval_y)

    def _train_once(self, model, texts, y, eval_texts, eval_y, seed: int, loss, compute_metrics, progress):
        """One Trainer run from the weights ``model`` holds; returns (best model, log history)."""
        from transformers import DataCollatorWithPadding, EarlyStoppingCallback, Trainer, TrainingArguments

        cfg = self.config
        has_eval = len(eval_texts) > 0
        strategy = "epoch" if has_eval else "no"
        with tempfile.TemporaryDirectory(prefix="troika-train-") as tmp:
            args = TrainingArguments(
                output_dir=tmp,
                num_train_epochs=cfg.epochs,
                learning_rate=cfg.learning_rate,
                per_device_train_batch_size=cfg.batch_size,
                per_device_eval_batch_size=cfg.inference_batch_size,
                weight_decay=cfg.weight_decay,
                warmup_steps=cfg.warmup_ratio,
                lr_scheduler_type="linear",
                optim="adamw_torch",
                train_sampling_strategy="group_by_length",  # similar lengths per batch: far less padding
                eval_strategy=strategy,
                save_strategy=strategy,
                save_total_limit=1,
                load_best_model_at_end=has_eval,
                metric_for_best_model=cfg.metric if has_eval else None,
                greater_is_better=True,
                logging_strategy="epoch",
                report_to="none",
                seed=seed,
                data_seed=seed,
                use_cpu=not torch.cuda.is_available(),
                disable_tqdm=not progress,
            )
            trainer = (_rdrop_trainer() if cfg.rdrop > 0 else Trainer)(
                model=model,
                args=args,
                train_dataset=_Encoded(self.tokenizer_, texts, y, cfg.max_length),
                eval_dataset=_Encoded(self.tokenizer_, eval_texts, eval_y, cfg.max_length) if has_eval else None,
                data_collator=DataCollatorWithPadding(self.tokenizer_),
                compute_metrics=compute_metrics if has_eval else None,
                compute_loss_func=loss,
                callbacks=[EarlyStoppingCallback(cfg.early_stopping_patience)] if has_eval else [],
                # The scheduler Trainer adds scales every group's rate alike (warm-up, then linear decay).
                optimizers=(_layerwise_optimizer(model, cfg) if cfg.layer_decay < 1 else None, None),
            )
            trainer.train()
        return trainer.model, list(trainer.state.log_history)

    def _score_weights(self, model, weights, eval_texts, eval_y) -> float:
        """Validation ``metric`` of ``model`` with ``weights`` loaded (None: as it is)."""
        if weights is not None:
            model.load_state_dict(weights)
        self.model_ = model.eval()
        pred = self.decision_function(eval_texts).argmax(axis=1)
        return classification_report(eval_y, pred, range(len(self.labels_)), top_confusions=0)[self.config.metric]

    def _interpolate_towards(self, probe_weights: dict, eval_texts: list[str], eval_y: np.ndarray) -> None:
        """Pick the interpolation between fine-tuned and probe weights that scores best on validation."""
        tuned = {k: v.detach().clone() for k, v in self.model_.state_dict().items()}

        def use(alpha: float) -> None:
            self.model_.load_state_dict({k: (1 - alpha) * v + alpha * probe_weights[k] if v.is_floating_point() else v for k, v in tuned.items()})

        scores = {}
        for alpha in self.config.interpolation_grid:
            use(alpha)
            pred = self.decision_function(eval_texts).argmax(axis=1)
            scores[alpha] = classification_report(eval_y, pred, range(len(self.labels_)), top_confusions=0)[self.config.metric]
        best = max(scores, key=lambda a: (scores[a], -a))  # ties go to the plain fine-tuned weights
        use(best)
        self.interpolation_ = {"alpha": best, f"validation_{self.config.metric}": {str(a): s for a, s in scores.items()}}

    def _fit_fast(self, texts, y, eval_texts, eval_y, progress):
        from sklearn.linear_model import LogisticRegression

        cfg = self.config
        self.model_.eval()  # no dropout while extracting features
        self.model_.head = nn.Linear(self.model_.head.in_features, len(self.labels_))
        features = self._embed(texts, progress)
        eval_features = self._embed(eval_texts, progress) if len(eval_texts) else None
        class_weight = "balanced" if cfg.class_weight == "balanced" else None

        def fit_head(c):
            return LogisticRegression(C=c, max_iter=2000, class_weight=class_weight, random_state=cfg.seed).fit(features, y)

        grid = cfg.fast_c_grid if eval_features is not None else cfg.fast_c_grid[:1]
        scored = []
        for c in grid:
            head = fit_head(c)
            score = 0.0
            if eval_features is not None:
                pred = head.predict(eval_features)
                report = classification_report(eval_y, pred, range(len(self.labels_)), top_confusions=0)
                score = report[cfg.metric]
            scored.append((score, -c, head))  # ties go to the stronger regularisation
        best = max(scored, key=lambda item: item[:2])
        self.linear_probe_ = {"C": -best[1], f"validation_{cfg.metric}": best[0]}
        coef, intercept = best[2].coef_, best[2].intercept_
        if len(self.labels_) == 2:  # sklearn keeps one row for binary problems: logits [0, z]
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([[0.0], intercept])
        with torch.no_grad():
            self.model_.head.weight.copy_(torch.tensor(coef, dtype=torch.float32))
            self.model_.head.bias.copy_(torch.tensor(intercept, dtype=torch.float32))

    def _embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        def embed(batch):
            encoded = self._tokenize(batch)
            with torch.inference_mode():
                return self.model_.embed(encoded["input_ids"], encoded["attention_mask"]).numpy()

        return _by_length(texts, self.batch_size, embed, self.model_.head.in_features, progress, "embedding")

    def _sample_per_label(self, texts: list[str], y: np.ndarray) -> list[dict]:
        rng = random.Random(self.config.seed)
        sample = []
        for label, idx in _indices_by_label(y).items():
            for i in rng.sample(idx, min(len(idx), self.config.replay_per_label)):
                sample.append({"text": texts[i], "label": self.labels_[label]})
        return sample

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
    def load(cls, path: str | Path) -> "TextClassifier":
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

    def export_onnx(self, out_dir: str | Path, *, quantize: bool = True):
        """Export to ONNX (int8 dynamic quantisation by default); returns an ``OnnxClassifier``."""
        from .onnx_runtime import export_onnx

        return export_onnx(self, out_dir, quantize=quantize)
