"""How a ``TextClassifier`` is fitted: the fast linear probe, full fine-tuning with ``transformers.Trainer``
(LP-FT, R-Drop, layer-wise learning-rate decay, model soups, WiSE-FT interpolation) and the data splits they use.

``fit_fast`` and ``fit_full`` fit the classifier passed in: they replace its ``model_`` (and record what they
chose in ``linear_probe_``, ``soup_``, ``interpolation_``, ``training_log_``), the way its own methods would;
``shared.classifier`` keeps only the facade.
"""

from __future__ import annotations

import random
import tempfile
from contextlib import nullcontext

import numpy as np
import torch
from torch import nn

from . import frozen_prefix
from .finetune_config import FineTuneConfig
from .metrics import classification_report
from .modeling import MeanPoolingClassifier


class Encoded(torch.utils.data.Dataset):
    """Tokenised examples for Trainer; padding happens per batch (DataCollatorWithPadding).

    ``extra``: more per-row columns (name -> array with one row per text) handed to the Trainer with each
    batch, such as the teacher's logits a distillation loss reads (``shared.distillation``)."""

    def __init__(self, tokenizer, texts: list[str], y: np.ndarray, max_length: int, extra: dict[str, np.ndarray] | None = None):
        self.features = tokenizer(texts, truncation=True, max_length=max_length)
        self.y = y
        self.extra = extra or {}

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        item = {key: values[i] for key, values in self.features.items()}
        item["labels"] = int(self.y[i])
        for key, values in self.extra.items():
            item[key] = values[i]
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


def layerwise_optimizer(model: nn.Module, cfg: FineTuneConfig) -> torch.optim.Optimizer:
    """AdamW whose learning rate falls by ``cfg.layer_decay`` per layer from the head down to the
    embeddings; biases and LayerNorm weights without weight decay, as Trainer's own optimizer."""
    base = getattr(model, "inner", model)  # frozen_prefix.TopLayers wraps the classifier
    layers = base.config.num_hidden_layers if hasattr(base, "config") else base.encoder.config.num_hidden_layers
    skipped = getattr(model, "first_layer", 0)  # TopLayers' stack starts at this layer, numbered from 0

    def depth(name: str) -> int:  # 0 = embeddings, 1..layers = encoder layers, layers + 1 = pooler and head
        if ".embeddings." in f".{name}":
            return 0
        if ".encoder.layer." in f".{name}":
            return int(name.split("encoder.layer.")[1].split(".")[0]) + 1 + skipped
        return layers + 1

    groups: dict[tuple[int, bool], list] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            no_decay = name.endswith("bias") or "LayerNorm" in name or "layer_norm" in name
            groups.setdefault((depth(name), no_decay), []).append(param)
    return torch.optim.AdamW([{"params": params, "lr": cfg.learning_rate * cfg.layer_decay ** (layers + 1 - d),
                               "weight_decay": 0.0 if no_decay else cfg.weight_decay}
                              for (d, no_decay), params in sorted(groups.items())], lr=cfg.learning_rate)


# ---- data --------------------------------------------------------------------------------------

def indices_by_label(y) -> dict[int, list[int]]:
    """Row indices of each label id, labels in ascending order."""
    by_label: dict[int, list[int]] = {}
    for i, label in enumerate(y):
        by_label.setdefault(int(label), []).append(i)
    return dict(sorted(by_label.items()))


def stratified_split(texts, y, fraction, seed):
    """Hold out ``fraction`` of each label with at least 2 examples (for early stopping/calibration)."""
    rng = random.Random(seed)
    held = []
    for idx in indices_by_label(y).values():
        rng.shuffle(idx)
        if len(idx) >= 2:
            held.extend(idx[: max(1, round(fraction * len(idx)))])
    held_set = set(held)
    keep = [i for i in range(len(texts)) if i not in held_set]
    pick = lambda ids: ([texts[i] for i in ids], y[ids])  # noqa: E731 - the split's two halves, read as a table
    return pick(np.array(keep, dtype=int)), pick(np.array(sorted(held), dtype=int))


def sample_per_label(texts: list[str], y: np.ndarray, labels: list[str], per_label: int, seed: int) -> list[dict]:
    """Up to ``per_label`` random rows of each label, as ``{"text", "label"}`` rows (the replay sample)."""
    rng = random.Random(seed)
    sample = []
    for label, idx in indices_by_label(y).items():
        for i in rng.sample(idx, min(len(idx), per_label)):
            sample.append({"text": texts[i], "label": labels[label]})
    return sample


def class_weights(y: np.ndarray, n_labels: int, cfg: FineTuneConfig) -> np.ndarray | None:
    """Loss weights that make every label count alike ("balanced"), or None when the config asks for none."""
    if cfg.class_weight != "balanced":
        return None
    counts = np.bincount(y, minlength=n_labels).astype(np.float64)
    return np.where(counts > 0, len(y) / (n_labels * np.maximum(counts, 1)), 0.0)


# ---- heads ---------------------------------------------------------------------------------------

def resize_head(model, old_labels: list[str], new_labels: list[str]) -> None:
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
    name_labels(model, new_labels)


def name_labels(model, labels: list[str]) -> None:
    """Label names in the HF config, so pipeline() and model cards show them."""
    model.config.id2label = dict(enumerate(labels))
    model.config.label2id = {label: i for i, label in enumerate(labels)}


# ---- fast mode: a linear probe on the frozen encoder ---------------------------------------------

def fit_fast(clf, texts, y, eval_texts, eval_y, progress, embed=None) -> list[tuple[list[str], np.ndarray]]:
    """Fit ``clf``'s linear head on its frozen encoder's sentence embeddings, C picked on validation.
    Returns the (texts, vectors) pairs it embedded, training first, for a caller that keeps them.
    ``embed(texts)``: where the vectors come from when they were computed already (default: ``clf.embed``)."""
    from sklearn.linear_model import LogisticRegression

    cfg, n_labels = clf.config, len(clf.labels_)
    clf.model_.eval()  # no dropout while extracting features
    clf.model_.head = nn.Linear(clf.model_.head.in_features, n_labels)
    embed = embed or (lambda rows: clf.embed(rows, progress=progress))
    features = embed(texts)
    embedded = [(texts, features)]
    eval_features = None
    if len(eval_texts):
        eval_features = embed(eval_texts)
        embedded.append((eval_texts, eval_features))
    class_weight = "balanced" if cfg.class_weight == "balanced" else None

    grid = cfg.fast_c_grid if eval_features is not None else cfg.fast_c_grid[:1]
    scored = []
    for c in grid:
        head = LogisticRegression(C=c, max_iter=2000, class_weight=class_weight, random_state=cfg.seed).fit(features, y)
        score = 0.0
        if eval_features is not None:
            report = classification_report(eval_y, head.predict(eval_features), range(n_labels), top_confusions=0)
            score = report[cfg.metric]
        scored.append((score, -c, head))  # ties go to the stronger regularisation
    best = max(scored, key=lambda item: item[:2])
    clf.linear_probe_ = {"C": -best[1], f"validation_{cfg.metric}": best[0]}
    coef, intercept = best[2].coef_, best[2].intercept_
    if n_labels == 2:  # sklearn keeps one row for binary problems: logits [0, z]
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    with torch.no_grad():
        clf.model_.head.weight.copy_(torch.tensor(coef, dtype=torch.float32))
        clf.model_.head.bias.copy_(torch.tensor(intercept, dtype=torch.float32))
    return embedded


# ---- full mode: every weight fine-tuned ------------------------------------------------------------

def _loss_function(cfg: FineTuneConfig, weights: np.ndarray | None):
    """Trainer's ``compute_loss_func``: (label-smoothed, class-weighted) cross-entropy, plus R-Drop's term."""
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

    return loss


def _metrics_function(n_labels: int):
    def compute_metrics(prediction):
        pred = prediction.predictions.argmax(-1)
        report = classification_report(prediction.label_ids, pred, range(n_labels), top_confusions=0)
        return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}

    return compute_metrics


def freeze_lowest_layers(model: nn.Module, layers: int) -> None:
    """Stop training the embeddings and the lowest ``layers`` encoder layers (0: train everything).
    The low layers change least in fine-tuning, so freezing them costs little accuracy and saves their
    backward pass and optimizer state: what makes a large teacher affordable on a small CPU."""
    if layers <= 0:
        return
    for name, param in model.named_parameters():
        if ".embeddings." in f".{name}" or (".encoder.layer." in f".{name}" and int(name.split("encoder.layer.")[1].split(".")[0]) < layers):
            param.requires_grad_(False)
    for module in model.modules():  # what the layer stack holds beside its layers (mpnet's relative position bias) feeds the frozen ones too
        if isinstance(getattr(module, "layer", None), nn.ModuleList):
            for name, child in module.named_children():
                if name != "layer":
                    child.requires_grad_(False)


def fit_full(clf, texts, y, eval_texts, eval_y, progress, keep_head: bool = False, objective=None) -> None:
    """Fine-tune every weight of ``clf.model_`` (``soup`` times, averaged), then interpolate towards the probe.

    ``objective``: what replaces the cross-entropy run, None for none; an object with ``train_rows(texts, y)``
    (the rows Trainer trains on: texts, label ids, extra per-row columns) and ``trainer_class()`` (a Trainer whose
    ``compute_loss`` reads them), as ``shared.distillation`` gives. Early stopping, checkpoint selection, soups and
    interpolation stay as they are. With ``freeze_layers`` the frozen layers' outputs are computed once
    (``shared.frozen_prefix``) and only the layers above them run while training."""
    cfg = clf.config
    model = clf.model_
    rows, ids, extra = objective.train_rows(texts, y) if objective is not None else (list(texts), np.asarray(y), {})
    cache = None
    if isinstance(model, MeanPoolingClassifier) and cfg.freeze_layers > 0:
        cache = frozen_prefix.encode(model, clf.tokenizer_, rows + list(eval_texts), cfg.freeze_layers, cfg.max_length,
                                     cfg.inference_batch_size, progress)
    if isinstance(model, MeanPoolingClassifier):
        # Linear probe first: fine-tuning then starts from a good head instead of a random one,
        # which keeps the pretrained features from being distorted early on (Kumar et al., 2022).
        # With keep_head the trained model is the start, and the interpolation below goes back towards it.
        if not keep_head:
            fit_fast(clf, texts, y, eval_texts, eval_y, progress, embed=cache.features if cache else None)
        probe_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    else:
        name_labels(model, clf.labels_)
    freeze_lowest_layers(model, cfg.freeze_layers)
    loss = _loss_function(cfg, class_weights(y, len(clf.labels_), cfg))
    compute_metrics = _metrics_function(len(clf.labels_))

    has_eval = len(eval_texts) > 0
    if cache is not None:
        data = (cache.dataset(rows, ids, extra), cache.dataset(eval_texts, eval_y) if has_eval else None, frozen_prefix.collate)
    else:
        from transformers import DataCollatorWithPadding

        data = (Encoded(clf.tokenizer_, rows, ids, cfg.max_length, extra),
                Encoded(clf.tokenizer_, eval_texts, eval_y, cfg.max_length) if has_eval else None, DataCollatorWithPadding(clf.tokenizer_))
    trainer_class = objective.trainer_class() if objective is not None else None
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    members, clf.training_log_ = [], []
    for member in range(cfg.soup):
        model.load_state_dict(start)
        # Trainer changes the weights in place (and loads the best checkpoint into the same module).
        with frozen_prefix.top_layers_only(model, cfg.freeze_layers) if cache is not None else nullcontext(model) as trained:
            clf.training_log_ += _train_once(cfg, trained, data, cfg.seed + member, loss, compute_metrics, progress, trainer_class)
        members.append({k: v.detach().clone() for k, v in model.state_dict().items()})
    model = model.to("cpu")
    if cfg.soup > 1:
        scores = [_score_weights(clf, model, weights, eval_texts, eval_y) if has_eval else None for weights in members]
        model.load_state_dict({k: torch.stack([m[k] for m in members]).mean(0) if v.is_floating_point() else v
                               for k, v in members[0].items()})
        clf.soup_ = {"members": scores, "soup": _score_weights(clf, model, None, eval_texts, eval_y) if has_eval else None}
    clf.model_ = model.eval()
    if isinstance(clf.model_, MeanPoolingClassifier) and has_eval and len(cfg.interpolation_grid) > 1:
        _interpolate_towards(clf, probe_weights, eval_texts, eval_y)


def _train_once(cfg, model, data, seed: int, loss, compute_metrics, progress, trainer_class=None) -> list[dict]:
    """One Trainer run from the weights ``model`` holds, which end as the best checkpoint's; returns the log history.
    ``data``: (training rows, validation rows or None, collator)."""
    from transformers import EarlyStoppingCallback, Trainer, TrainingArguments

    train_dataset, eval_dataset, collator = data
    has_eval = eval_dataset is not None
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
        if trainer_class is None:
            trainer_class = _rdrop_trainer() if cfg.rdrop > 0 else Trainer
        trainer = trainer_class(
            model=model,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            data_collator=collator,
            compute_metrics=compute_metrics if has_eval else None,
            compute_loss_func=loss,
            callbacks=[EarlyStoppingCallback(cfg.early_stopping_patience)] if has_eval else [],
            # The scheduler Trainer adds scales every group's rate alike (warm-up, then linear decay).
            optimizers=(layerwise_optimizer(model, cfg) if cfg.layer_decay < 1 else None, None),
        )
        if not progress:  # without progress bars Trainer prints every log dict instead: quiet means quiet
            from transformers.trainer_callback import PrinterCallback

            trainer.remove_callback(PrinterCallback)
        trainer.train()
    return list(trainer.state.log_history)


def _validation_score(clf, eval_texts, eval_y) -> float:
    pred = clf.decision_function(eval_texts).argmax(axis=1)
    return classification_report(eval_y, pred, range(len(clf.labels_)), top_confusions=0)[clf.config.metric]


def _score_weights(clf, model, weights, eval_texts, eval_y) -> float:
    """Validation ``metric`` of ``model`` with ``weights`` loaded (None: as it is)."""
    if weights is not None:
        model.load_state_dict(weights)
    clf.model_ = model.eval()
    return _validation_score(clf, eval_texts, eval_y)


def _interpolate_towards(clf, probe_weights: dict, eval_texts: list[str], eval_y: np.ndarray) -> None:
    """Pick the interpolation between fine-tuned and probe weights that scores best on validation."""
    tuned = {k: v.detach().clone() for k, v in clf.model_.state_dict().items()}

    def use(alpha: float) -> None:
        clf.model_.load_state_dict({k: (1 - alpha) * v + alpha * probe_weights[k] if v.is_floating_point() else v for k, v in tuned.items()})

    scores = {}
    for alpha in clf.config.interpolation_grid:
        use(alpha)
        scores[alpha] = _validation_score(clf, eval_texts, eval_y)
    best = max(scores, key=lambda a: (scores[a], -a))  # ties go to the plain fine-tuned weights
    use(best)
    clf.interpolation_ = {"alpha": best, f"validation_{clf.config.metric}": {str(a): s for a, s in scores.items()}}
