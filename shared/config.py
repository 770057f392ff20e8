"""Settings: code defaults < ``troika.toml`` < ``TROIKA_*`` environment < explicit arguments.

Every key is a field of :class:`Config` with its default and a one-line meaning, so
``troika config`` and the README can list them all from one place. Tables in
``troika.toml`` (``[customer_service]``...) belong to the apps and are kept as raw dicts::

    config = load_config()                       # ./troika.toml if present, then TROIKA_* env
    config = load_config("deploy.toml", port=9000)
    config.database_url                          # sqlite:////abs/var/troika.db unless set
    config.section("customer_service")           # {} when the file has no such table
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import importlib
import importlib.util
import json
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from .errors import ConfigError
from .storage import redact_url

ENV_PREFIX = "TROIKA_"
CONFIG_ENV = "TROIKA_CONFIG"
DEFAULT_FILE = "troika.toml"
DEFAULT_APPS = ("customer_service", "finance_monitor", "recommender")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Keys whose values are never printed (config listings, reprs).
SECRET_KEYS = ("secret_key", "admin_token", "api_key")


@dataclass(frozen=True)
class AppKey:
    """One key of an app's table in ``troika.toml``, as ``troika config`` lists it (``<app>.settings.KEYS``).

    ``default`` None: no value by default (the key is shown commented, with ``example``); a dict: a
    sub-table (``[app.key]``) whose keys default to its values."""

    name: str
    default: Any
    help: str
    example: Any = None


def _key(default: Any, help: str, **kwargs: Any) -> Any:
    return field(default=default, metadata={"help": help}, **kwargs)


@dataclass(frozen=True)
class Config:
    """Every setting of the suite. Build it with :func:`load_config`; copy it with :meth:`replace`."""

    var_dir: Path = _key(Path("var"), "where databases, models and indexes live (relative paths: to the current directory, or to troika.toml when set there)")
    database_url: str = _key("", "SQLAlchemy database URL; empty means sqlite:///<var_dir>/troika.db", repr=False)
    base_model: str = _key("", "encoder to fine-tune: minilm (the packaged all-MiniLM-L6-v2), mpnet (all-mpnet-base-v2: see troika models) "
                           "or a local Hugging Face model directory; empty means minilm")
    secret_key: str = _key("", "key signing cookies; empty means a random one generated once and kept in <var_dir>/secret_key", repr=False)
    admin_token: str = _key("", "token admin routes require (Authorization: Bearer <token>); empty means admin routes are closed", repr=False)
    host: str = _key("127.0.0.1", "address the server listens on (0.0.0.0 for every interface)")
    port: int = _key(8000, "port the server listens on")
    threads: int = _key(4, "worker threads of the server (waitress)")
    max_content_length: int = _key(64 * 1024, "largest request body accepted, in bytes; larger requests get 413")
    testing: bool = _key(False, "test mode: relaxes the secret-key check; never set it in production")
    apps: tuple[str, ...] = _key(DEFAULT_APPS, "app packages the server hosts, in this order")
    cors_origins: tuple[str, ...] = _key((), "origins (https://example.com) allowed to call the chat widget's API from a browser")
    log_level: str = _key("INFO", "logging level: DEBUG, INFO, WARNING, ERROR or CRITICAL")
    # Per-app tables of troika.toml; each app reads and checks its own keys.
    sections: Mapping[str, dict] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name, kind in _field_types().items():
            value = getattr(self, name)
            checked = _check_value(name, value, kind, "")
            if checked is not value:
                object.__setattr__(self, name, checked)
        # Absolute, so that a later chdir (tests, daemons) cannot move the data.
        object.__setattr__(self, "var_dir", self.var_dir.expanduser().absolute())
        if not self.database_url:
            url = URL.create("sqlite", database=str(self.var_dir / "troika.db"))
            object.__setattr__(self, "database_url", url.render_as_string(hide_password=False))
        object.__setattr__(self, "log_level", self.log_level.upper())
        _validate(self)

    def section(self, name: str) -> dict:
        """The ``[name]`` table of troika.toml (a copy; empty when absent)."""
        return copy.deepcopy(dict(self.sections.get(name, {})))

    def replace(self, **changes: Any) -> Config:
        """A copy with ``changes``; a derived database_url follows a new var_dir."""
        if "var_dir" in changes and "database_url" not in changes and self.database_url == Config(var_dir=self.var_dir).database_url:
            changes["database_url"] = ""
        return dataclasses.replace(self, **changes)


@functools.cache
def _field_types() -> dict[str, Any]:
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in dataclasses.fields(Config) if f.name != "sections"}


KEYS: dict[str, str] = {f.name: f.metadata["help"] for f in dataclasses.fields(Config) if "help" in f.metadata}
"""Every key with its meaning, in declaration order."""


def defaults() -> dict[str, Any]:
    """Every key's code default (database_url as written: empty, i.e. derived)."""
    return {f.name: f.default for f in dataclasses.fields(Config) if f.name in KEYS}


def _check_value(key: str, value: Any, kind: Any, source: str) -> Any:
    """``value`` as ``kind``, or a ConfigError naming where it came from, the key and the value."""
    where = f"{source}: " if source else ""
    if kind is Path and isinstance(value, (str, os.PathLike)):
        return Path(value)
    if kind is bool and isinstance(value, bool):
        return value
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str):
        return value
    if kind == tuple[str, ...] and isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    expected = {Path: "a path (string)", bool: "true or false", int: "an integer", str: "a string"}.get(kind, "a list of strings")
    raise ConfigError(f"{where}{key} = {value!r}: expected {expected}")


def _from_env(key: str, text: str, kind: Any) -> Any:
    """An environment string as ``kind`` (lists are comma-separated)."""
    var = ENV_PREFIX + key.upper()
    if kind is int:
        try:
            return int(text.strip())
        except ValueError:
            raise ConfigError(f"{var}={text!r}: expected an integer") from None
    if kind is bool:
        word = text.strip().lower()
        if word in {"1", "true", "yes", "on"}:
            return True
        if word in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"{var}={text!r}: expected true or false (1/0, yes/no, on/off)")
    if kind == tuple[str, ...]:
        return tuple(part.strip() for part in text.split(",") if part.strip())
    if kind is Path:
        return Path(text).expanduser()
    return text


def _validate(config: Config) -> None:
    if not 0 <= config.port <= 65535:
        raise ConfigError(f"port = {config.port}: expected 0 to 65535")
    if config.threads < 1:
        raise ConfigError(f"threads = {config.threads}: expected at least 1")
    if config.max_content_length < 1:
        raise ConfigError(f"max_content_length = {config.max_content_length}: expected a positive number of bytes")
    if config.log_level not in LOG_LEVELS:
        raise ConfigError(f"log_level = {config.log_level!r}: expected one of {', '.join(LOG_LEVELS)}")
    try:
        make_url(config.database_url)
    except ArgumentError:
        raise ConfigError(f"database_url = {redact_url(config.database_url)!r} is not a database URL such as sqlite:///var/troika.db") from None
    if not config.host:
        raise ConfigError("host is empty: expected an address such as 127.0.0.1")
    for name in config.apps:
        # Each name is imported as a package, so it must be one.
        if not name.isidentifier():
            raise ConfigError(f"apps: {name!r} is not a package name")
    for origin in config.cors_origins:
        if not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
            raise ConfigError(f"cors_origins: {origin!r} is not an origin such as https://example.com (scheme and host, no path)")


def _read_file(path: Path) -> tuple[dict[str, Any], dict[str, dict]]:
    """(top-level keys, app tables) of a troika.toml; relative var_dir made relative to the file."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path} is unreadable: {exc}") from None
    kinds = _field_types()
    values, sections = {}, {}
    for key, value in data.items():
        if key in kinds:
            values[key] = _check_value(key, value, kinds[key], str(path))
        elif isinstance(value, dict):
            sections[key] = value
        else:
            raise ConfigError(f"{path}: unknown key {key!r}; known keys: {', '.join(KEYS)}")
    if "var_dir" in values and not values["var_dir"].expanduser().is_absolute():
        values["var_dir"] = path.parent / values["var_dir"]
    return values, sections


def _config_path(path: str | os.PathLike | None, env: Mapping[str, str]) -> Path | None:
    if path is not None:
        return Path(path)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    default = Path(DEFAULT_FILE)
    return default if default.is_file() else None


def load_config(path: str | os.PathLike | None = None, *, env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
    """Merge code defaults < troika.toml < ``TROIKA_<KEY>`` variables < ``overrides``.

    The file is ``path``, else ``$TROIKA_CONFIG``, else ``./troika.toml`` when it exists.
    ``overrides`` set to None are ignored (handy for unset command-line options).
    """
    env = os.environ if env is None else env
    kinds = _field_types()
    values: dict[str, Any] = {}
    sections: dict[str, dict] = {}
    file = _config_path(path, env)
    if file is not None:
        values, sections = _read_file(file)
    for key, kind in kinds.items():
        if ENV_PREFIX + key.upper() in env:
            values[key] = _from_env(key, env[ENV_PREFIX + key.upper()], kind)
    for key, value in overrides.items():
        if key not in kinds:
            raise ConfigError(f"unknown setting {key!r}; known settings: {', '.join(KEYS)}")
        if value is not None:
            values[key] = _check_value(key, value, kinds[key], "argument")
    config = Config(**values, sections=sections)
    for name in sections:
        # A table for no known app is most likely a typo that would silently do nothing.
        if name not in config.apps and name not in DEFAULT_APPS:
            raise ConfigError(f"{file}: unknown table [{name}]; tables are app settings: {', '.join(config.apps)}")
    return config


def _toml(value: Any) -> str:
    """``value`` written as TOML (the subset config values use)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    # JSON string escapes are valid TOML basic-string escapes.
    return json.dumps(str(value), ensure_ascii=False)


def _is_secret(key: str) -> bool:
    return key in SECRET_KEYS or any(word in key.lower() for word in ("password", "secret", "token"))


def describe(config: Config | None = None) -> str:
    """Every key as commented TOML: meaning, default, environment variable, then the value.

    Secrets show only whether they are set. Without ``config``, the defaults.
    """
    config = config or Config()
    lines = []
    for key, default in defaults().items():
        value = getattr(config, key)
        if key == "database_url":
            value = make_url(value).render_as_string(hide_password=True)
        shown = (_toml("<set>") if value else '""  # not set') if _is_secret(key) else _toml(value)
        lines += [f"# {KEYS[key]}", f"# default: {_toml(default)}; environment: {ENV_PREFIX}{key.upper()}", f"{key} = {shown}", ""]
    for app in config.apps:
        keys = _app_attribute(app, "settings", "KEYS")
        if keys is not None:
            lines += _documented_table_lines(app, keys, config.section(app))
    for name, table in config.sections.items():
        if _app_attribute(name, "settings", "KEYS") is None or name not in config.apps:
            lines += _table_lines(name, table, f"[{name}]")
    for app in config.apps:
        lines += _example_lines(app)
    return "\n".join(lines).rstrip() + "\n"


def _shown(key: str, value: Any) -> str:
    return (_toml("<set>") if value else '""  # not set') if _is_secret(key) else _toml(value)


def _documented_table_lines(name: str, keys: list[AppKey], table: Mapping) -> list[str]:
    """An app's table with every key it knows: meaning, default, then the value in effect. Sub-tables
    and lists of tables follow as blocks of their own; a key the app does not know is shown as set,
    so the app's own check can name it."""
    lines, blocks = [f"[{name}]"], []
    known = {key.name for key in keys}
    for key in keys:
        value = table.get(key.name, key.default)
        if isinstance(key.default, dict) or _is_table_list(value):
            if isinstance(value, dict):
                value = {**key.default, **value} if isinstance(key.default, dict) else value
                blocks += [f"# {key.help}"] + _table_lines(f"{name}.{key.name}", value, f"[{name}.{key.name}]")
            elif value:
                blocks.append(f"# {key.help}")
                for item in value:
                    blocks += _table_lines(f"{name}.{key.name}", item, f"[[{name}.{key.name}]]")
            continue
        if value is None and key.example is None:  # a table or list of tables with no default: described only
            blocks.append(f"# [{name}] {key.name}: {key.help}")
            continue
        default = "none" if key.default is None else _toml(key.default)
        lines += [f"# {key.help}", f"# default: {default}"]
        if value is None:
            lines.append(f"# {key.name} = {_toml(key.example) if key.example is not None else '...'}")
        elif isinstance(value, list) and not value and key.example is not None:
            lines.append(f"{key.name} = []  # for example {_toml(key.example)}")
        else:
            lines.append(f"{key.name} = {_shown(key.name, value)}")
    lines += [f"{k} = {_shown(k, v)}" for k, v in table.items() if k not in known]
    return lines + [""] + blocks + ([""] if blocks and blocks[-1] else [])


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _table_lines(name: str, table: Mapping, header: str) -> list[str]:
    """One table as TOML: its plain keys, then its tables ([name.sub]) and lists of tables
    ([[name.sub]]) as blocks of their own, as a person writes them, not as inline tables."""
    nested = {k: v for k, v in table.items() if isinstance(v, dict) or _is_table_list(v)}
    lines = [header] + [f"{k} = {_toml('<set>') if _is_secret(k) else _toml(v)}" for k, v in table.items() if k not in nested]
    lines.append("")
    for key, value in nested.items():
        for item in value if isinstance(value, list) else [value]:
            sub = f"{name}.{key}"
            lines += _table_lines(sub, item, f"[[{sub}]]" if isinstance(value, list) else f"[{sub}]")
    return lines


def _example_lines(app: str) -> list[str]:
    """An app's commented example tables (``<app>.config_example.EXAMPLE``), for the settings
    that have no single default: lists of tables such as ``[[finance_monitor.channels]]``."""
    example = _app_attribute(app, "config_example", "EXAMPLE")
    if example is None:
        return []
    return [f"# --- {app}: examples; uncomment and edit to use ---"] + [f"# {line}".rstrip() for line in example.strip().splitlines()] + [""]


def _app_attribute(app: str, module: str, name: str) -> Any:
    """``<app>.<module>.<name>``, or None when the app, the module or the name is not there (an app
    need not describe its settings). Only the settings modules are imported: no model library."""
    try:
        spec = importlib.util.find_spec(f"{app}.{module}")
    except ModuleNotFoundError:  # the app package itself is not installed
        return None
    if spec is None:
        return None
    return getattr(importlib.import_module(f"{app}.{module}"), name, None)
