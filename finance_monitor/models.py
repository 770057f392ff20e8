"""Which models the monitor serves, and how each is made and loaded.

The sentiment model starts as the configured directory (``[finance_monitor] sentiment_model``),
else the demo model trained once from ``demo/sentiment.csv``; once the retraining job promoted a
version of it (``retraining.py``), that version serves, through its ONNX export
(``shared.artifacts.onnx_dir``)::

    source = sentiment_source(settings, config.var_dir)       # Path: configured or demo (trained when missing)
    store = model_store(source, config.var_dir)               # the versions retrained from it
    model, label, active = load_sentiment(store, source)      # SentimentModel, "v2026…", version dir or None

Topic similarity uses the suite's base encoder: in torch, or as an int8 ONNX export kept under
``var_dir/finance_monitor`` for replays of many thousands of headlines (``topic_encoder``).

The sentiment model and the encoders load torch, so they are imported where a model is made or
loaded, not when the monitor's plain modules (settings, web, CLI help) are.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from shared.artifacts import MANIFEST, ArtifactStore, is_onnx_export, onnx_dir, served_with
from shared.config import Config
from shared.encoder import resolve_encoder
from shared.finetune_config import FineTuneConfig

from .settings import DEMO_DIR, MonitorSettings

log = logging.getLogger(__name__)


# ---- the sentiment model -------------------------------------------------------------------


def serving_dir(path: Path) -> Path:
    """The directory to serve from: ``path`` if it is an ONNX export, else ``path-onnx`` when that exists, else ``path``."""
    path = Path(path)
    if is_onnx_export(path):
        return path
    onnx = path.with_name(path.name + "-onnx")
    return onnx if (onnx / MANIFEST).is_file() else path


def demo_model_dir(var_dir: Path) -> Path:
    """Where the demo sentiment model trained from ``demo/sentiment.csv`` lives (named by the file's digest)."""
    digest = hashlib.sha256((DEMO_DIR / "sentiment.csv").read_bytes()).hexdigest()[:12]
    return Path(var_dir) / "finance_monitor" / f"demo-sentiment-{digest}"


def ensure_demo_model(var_dir: Path, *, base_model: str | None = None, progress: bool = True) -> Path:
    """The demo model directory, trained in fast mode (seconds) when it is missing."""
    from .scoring.sentiment import SentimentModel  # torch: only when a model is trained

    out = demo_model_dir(var_dir)
    if (out / MANIFEST).is_file():
        return out
    log.info("training the demo sentiment model (fast mode) → %s", out)
    demo = DEMO_DIR / "sentiment.csv"
    model = SentimentModel.train([demo], [demo], config=FineTuneConfig(mode="fast"), base_model=base_model or None, progress=progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    return model.save(out)


def sentiment_source(settings: MonitorSettings, var_dir: Path, *, base_model: str | None = None, progress: bool = True) -> Path:
    """The model the monitor starts from: the configured directory, else the demo model (trained when missing)."""
    if settings.sentiment_model:
        return Path(settings.sentiment_model)
    return ensure_demo_model(var_dir, base_model=base_model, progress=progress)


def model_store(base_dir: Path, var_dir: Path) -> ArtifactStore:
    """The versions retrained from ``base_dir``: ``var_dir/finance_monitor/models/<base name>``, so configuring
    another model starts a new store instead of serving versions learnt from the old one."""
    base_dir = Path(base_dir)
    name = base_dir.name
    if not name.startswith("demo-sentiment-"):  # the demo's name carries its data's digest already
        name += "-" + hashlib.sha256(str(base_dir.resolve()).encode()).hexdigest()[:8]
    return ArtifactStore(Path(var_dir) / "finance_monitor" / "models" / name)


def legacy_onnx_dir(version: Path) -> Path:
    """Where versions retrained before the suite-wide rule kept their export: ``<store>-onnx/<version>``."""
    version = Path(version)
    return version.parent.with_name(version.parent.name + "-onnx") / version.name


def serving_path(version: Path) -> Path:
    """A version's ONNX export when it has one (in the version, or where older versions kept it), else the version."""
    for exported in (onnx_dir(version), legacy_onnx_dir(version)):
        if (exported / MANIFEST).is_file():
            return exported
    return Path(version)


def served_quantized(path: Path) -> bool:
    """Whether the model at ``path`` is served by an int8 export (the default) rather than an fp32 one."""
    return served_with(serving_dir(path)) != "onnx-fp32"


def load_sentiment(store: ArtifactStore, source: Path):
    """(SentimentModel, version label, version dir or None): ``store``'s active retrained version when retraining
    promoted one, else ``source`` (see ``sentiment_source``; its ONNX export preferred)."""
    active = store.active()
    if active is not None:
        return *load_version(active), active
    path = serving_dir(source)
    return _sentiment_model(path), path.name[:128], None


def load_version(version: Path):
    """(SentimentModel, version label) of a retrained version, served by its ONNX export."""
    return _sentiment_model(serving_path(version)), version.name[:128]


def _sentiment_model(path: Path):
    from .scoring.sentiment import SentimentModel  # torch: only when a model is loaded

    return SentimentModel.load(path)


# ---- the topic encoder ---------------------------------------------------------------------


def topic_encoder_dir(config: Config) -> Path:
    """Where the ONNX export of the topic encoder is kept (named by the encoder it was made from)."""
    source = resolve_encoder(config.base_model or None)
    return Path(config.var_dir) / "finance_monitor" / f"topic-encoder-{hashlib.sha256(str(source).encode()).hexdigest()[:12]}"


def topic_encoder(config: Config, *, onnx: bool = False):
    """The encoder topic similarity uses: the suite's base model in torch, or (``onnx``, for replays of many
    thousands of headlines) its int8 ONNX export, made once and kept under ``var_dir/finance_monitor``."""
    if not onnx:
        from shared.embeddings import Embedder  # torch

        return Embedder(config.base_model or None)
    from shared.onnx_runtime import OnnxEncoder, export_onnx_encoder

    source = resolve_encoder(config.base_model or None)
    cache = topic_encoder_dir(config)
    if (cache / MANIFEST).is_file():
        return OnnxEncoder.load(cache)
    log.info("exporting the topic encoder to ONNX int8 (once) → %s", cache)
    cache.parent.mkdir(parents=True, exist_ok=True)
    return export_onnx_encoder(source, cache)
