"""``[recommender]`` of troika.toml: its keys checked, defaults filled in, the API key found or generated.

Kept apart from ``plugin.py`` (which loads the models) so that ``troika config`` can describe the
settings (``describe_settings``, read by ``shared.server.describe_apps``) without importing torch.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from shared.config import AppKey, Config
from shared.errors import ConfigError
from shared.web import parse_rate_limit, persisted_secret

from .feedback_types import DEFAULT_POSITIVE, DEFAULT_READ, FeedbackTypes

API_KEY_ENV = "TROIKA_RECOMMENDER_API_KEY"
# Per client; [recommender] rate_limit in troika.toml. The client is a product's backend making all its
# users' calls from one address, so the bound is ten times a chat visitor's (customer_service: 20/second)
# and near what one server answers (bench/results/rec_load_*.md: 200-400 recommend calls/s on 2 cores):
# a backend at its normal pace is never refused, while a runaway retry loop gets 429s, not the server.
DEFAULT_RATE_LIMIT = "200/second"

SETTINGS = {"api_key": str, "demo": bool, "ranking": str, "retrain_every": (int, float), "fine_tune": bool,
            "reload_seconds": (int, float), "rate_limit": str, "positive_feedback_types": list, "read_feedback_types": list}
TYPE_LISTS = ("positive_feedback_types", "read_feedback_types")
KEYS = [  # what troika config lists; the defaults plugin_settings fills in
    AppKey("api_key", None, f"key every /rec/api call presents (X-API-Key); unset: generated once, kept in <var_dir>/recommender/api_key; "
           f'"": the API answers 403; environment: {API_KEY_ENV}', example="a long random string"),
    AppKey("demo", True, "import the demo catalogue (60 films, 15 members) into an empty database"),
    AppKey("ranking", "click", '"click": the active click model ranks the candidates; "content": never load a click model'),
    AppKey("retrain_every", 86400, "seconds between retrains of the click model; 0: no retrain job"),
    AppKey("fine_tune", True, "the retrain job fine-tunes the item encoder on the clicks"),
    AppKey("reload_seconds", 2, "how often the server looks for a newly activated model"),
    AppKey("rate_limit", DEFAULT_RATE_LIMIT, 'per client (remote address) on /rec/api/*; over it: 429 + Retry-After; "": none'),
    AppKey("positive_feedback_types", list(DEFAULT_POSITIVE), "feedback types meaning the user liked the item (gorse's positive_feedback_types)"),
    AppKey("read_feedback_types", list(DEFAULT_READ), "feedback types meaning seen, not liked: not recommended again, a negative; "
           "other types are stored and ignored"),
]


def plugin_settings(config: Config) -> dict:
    """``[recommender]`` checked, with defaults filled in and the API key from the environment."""
    settings = config.section("recommender")
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise ConfigError(f"[recommender] has unknown key(s) {', '.join(unknown)}; the keys are {', '.join(SETTINGS)}")
    for key, kind in SETTINGS.items():
        value = settings.get(key)
        if value is not None and (not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))):
            expected = {"demo": "true or false", "fine_tune": "true or false", "api_key": "a string", "ranking": "a string",
                        "rate_limit": 'a string such as "200/second;5000/minute"'}.get(key, "a list of strings" if key in TYPE_LISTS
                                                                                     else "a number of seconds")
            raise ConfigError(f"recommender.{key} must be {expected}, got {value!r}")
    settings = {**{key.name: copy.deepcopy(key.default) for key in KEYS if key.default is not None}, **settings}
    settings["feedback_types"] = feedback_types(settings)
    if settings["ranking"] not in ("click", "content"):
        raise ConfigError(f"recommender.ranking must be \"click\" or \"content\", got {settings['ranking']!r}")
    if settings["retrain_every"] < 0 or settings["reload_seconds"] <= 0:
        raise ConfigError("recommender.retrain_every must be 0 (off) or more, recommender.reload_seconds more than 0")
    if settings["rate_limit"]:
        parse_rate_limit(settings["rate_limit"], "recommender.rate_limit")
    settings["api_key"] = os.environ.get(API_KEY_ENV) or settings.get("api_key", "")
    return settings


def feedback_types(settings: dict) -> FeedbackTypes:
    """The two type lists of ``[recommender]`` checked: strings, none in both."""
    for key in TYPE_LISTS:
        if not all(isinstance(t, str) and t for t in settings[key]):
            raise ConfigError(f"recommender.{key} must be a list of feedback type names (strings), got {settings[key]!r}")
    try:
        return FeedbackTypes(tuple(settings["positive_feedback_types"]), tuple(settings["read_feedback_types"]))
    except ValueError as exc:
        raise ConfigError(f"recommender.positive_feedback_types and read_feedback_types: {exc}") from None


def api_key_file(config: Config) -> Path:
    """Where the generated API key lives when none is configured."""
    return Path(config.var_dir) / "recommender" / "api_key"


def resolve_api_key(config: Config, settings: dict) -> bool:
    """Fill ``settings["api_key"]``: the environment's or troika.toml's key wins; with neither, the
    key generated once and kept in var_dir (so the demo works on defaults, and the key survives a
    restart). ``api_key = ""`` written out keeps the API closed. True when the key was generated now."""
    if settings["api_key"] or "api_key" in config.section("recommender"):
        return False
    path = api_key_file(config)
    fresh = not path.exists()
    settings["api_key"] = persisted_secret(path)
    return fresh


def describe_settings(config: Config) -> str:
    """What ``troika config`` adds for this app: where its API key comes from (never the key itself)."""
    settings = plugin_settings(config)  # also checks the table, so a bad key is named here, not at start-up
    if settings["api_key"]:
        where = f"from {API_KEY_ENV}" if os.environ.get(API_KEY_ENV) else "set in [recommender] api_key"
    elif "api_key" in config.section("recommender"):
        where = 'api_key = "" in [recommender]: the API refuses every request (403)'
    else:
        where = f"generated on first start, kept in {api_key_file(config)}"
    return f"\n# [recommender] api_key: {where}\n"
