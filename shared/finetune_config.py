"""How a ``TextClassifier`` trains: ``FineTuneConfig``, and the command-line ``--set KEY=VALUE`` items that adjust it.

    config = FineTuneConfig(mode="fast")
    config = config_from_cli("full", ["learning_rate=1e-4", "soup=3"], epochs=4)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import ConfigError

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
    # Full mode: the embeddings and this many lowest encoder layers are not trained (0: every layer is).
    # Their backward pass and optimizer state are saved: a cheaper teacher (shared.distillation).
    freeze_layers: int = 0
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
        if not isinstance(self.freeze_layers, int) or self.freeze_layers < 0:
            raise ConfigError(f"freeze_layers must be a whole number of encoder layers (0: none frozen), got {self.freeze_layers!r}")
        self.interpolation_grid = tuple(float(a) for a in self.interpolation_grid)
        if not self.interpolation_grid or not all(0 <= a < 1 for a in self.interpolation_grid):
            raise ConfigError("interpolation_grid needs values in [0, 1)")

    @property
    def inference_batch_size(self) -> int:
        # No gradients to hold at inference, so bigger batches than training's are cheap.
        return max(self.batch_size, 64)

    @classmethod
    def from_dict(cls, values: dict) -> FineTuneConfig:
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

