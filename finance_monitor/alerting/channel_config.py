"""Alert channels from config: the ``[[finance_monitor.channels]]`` tables of troika.toml.

::

    [[finance_monitor.channels]]
    type = "alertmanager"                      # alertmanager | webhook | slack | email | log
    url = "http://alertmanager.internal:9093"  # base URL; we POST <url>/api/v2/alerts

One example of each type is in ``config_example.py`` (``troika config`` prints it).

Keys per type (defaults in brackets): every type takes ``name`` [its type]; HTTP types
(alertmanager, webhook, slack) take ``url``, ``timeout`` [5 s], ``attempts`` [3],
``backoff`` [1 s]; alertmanager ``firing_ttl_hours`` [4 × ``detect_every``: firing alerts are re-sent
on every detection pass]; webhook ``receiver`` ["troika"];
email ``host``, ``port`` [25, 587 with starttls], ``starttls`` [false], ``username``,
``password`` / ``password_env``, ``from``, ``to`` (a string or a list), ``timeout`` [10 s],
``attempts`` [3], ``backoff`` [2 s]. A missing or unknown key is a ConfigError naming it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta

from shared.errors import ConfigError

from ..config_tables import Names, no_unknown_keys
from ..config_tables import tables as table_list  # `tables` is build_channels' argument
from .channels import AlertmanagerChannel, Channel, EmailChannel, LogChannel, SlackChannel, WebhookChannel

HTTP_KEYS = {"url", "timeout", "attempts", "backoff"}
KEYS = {
    "log": set(),
    "alertmanager": HTTP_KEYS | {"firing_ttl_hours"},
    "webhook": HTTP_KEYS | {"receiver"},
    "slack": HTTP_KEYS,
    "email": {"host", "port", "starttls", "username", "password", "password_env", "from", "to", "timeout", "attempts",
              "backoff"},
}
_CHANNEL_NAME = re.compile(r"^.{1,100}$", re.DOTALL)
HTTP_CLASSES = {"alertmanager": AlertmanagerChannel, "webhook": WebhookChannel, "slack": SlackChannel}


class _Table:
    """One channel table, with errors that name the key as it is written in troika.toml."""

    def __init__(self, table: Mapping, where: str):
        self.table, self.where = table, where

    def error(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.where}.{key}: {problem}")

    def get(self, key: str, kind: type | tuple, default=None, *, required: bool = False):
        if key not in self.table:
            if required:
                raise self.error(key, "missing")
            return default
        value = self.table[key]
        # bool is an int in Python; a port or an attempt count of `true` is a typo, not 1.
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,))):
            names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            raise self.error(key, f"expected {names}, got {type(value).__name__}")
        return value

    def positive(self, key: str, default: float, kind=(int, float)) -> float:
        value = self.get(key, kind, default)
        if value <= 0:
            raise self.error(key, f"must be positive, got {value}")
        return value


def build_channels(tables: Sequence[Mapping] | None, *, where: str = "finance_monitor.channels",
                   environ: Mapping[str, str] = os.environ) -> list[Channel]:
    """Channels in config order; no tables means the log channel alone (alerts are never silent)."""
    if not tables:
        return [LogChannel()]
    channels: list[Channel] = []
    names = Names("channel", _CHANNEL_NAME, "1 to 100 characters")
    for here, raw in table_list(tables, where, "the settings of one channel"):
        table = _Table(raw, here)
        kind = table.get("type", str, required=True)
        if kind not in KEYS:
            raise table.error("type", f"unknown channel type {kind!r}; expected one of {', '.join(KEYS)}")
        no_unknown_keys(here, raw, KEYS[kind] | {"type", "name"}, f"a {kind} channel has {', '.join(['type', 'name', *sorted(KEYS[kind])])}")
        name = names.take(here, table.get("name", str, kind))
        channels.append(_build(kind, name, table, environ))
    return channels


def _build(kind: str, name: str, table: _Table, environ: Mapping[str, str]) -> Channel:
    if kind == "log":
        return LogChannel(name)
    if kind in HTTP_CLASSES:
        url = table.get("url", str, required=True)
        if not url.startswith(("http://", "https://")):
            raise table.error("url", "must be an http:// or https:// URL")  # never echo it: it may hold a token
        common = dict(name=name, url=url, timeout=float(table.positive("timeout", 5.0)),
                      attempts=int(table.positive("attempts", 3, int)), backoff=float(table.get("backoff", (int, float), 1.0)))
        if kind == "alertmanager":
            hours = table.positive("firing_ttl_hours", 24) if "firing_ttl_hours" in table.table else None
            return AlertmanagerChannel(**common, firing_ttl=timedelta(hours=hours) if hours else None)
        if kind == "webhook":
            return WebhookChannel(**common, receiver=table.get("receiver", str, "troika"))
        return SlackChannel(**common)
    # email
    to = table.get("to", (str, list), required=True)
    recipients = [to] if isinstance(to, str) else to
    if not recipients or not all(isinstance(r, str) and "@" in r for r in recipients):
        raise table.error("to", "expected one address or a list of addresses")
    starttls = table.get("starttls", bool, False)
    password = table.get("password", str)
    password_env = table.get("password_env", str)
    if password_env:
        if password is not None:
            raise table.error("password_env", "give password or password_env, not both")
        if password_env not in environ:
            raise table.error("password_env", f"environment variable {password_env} is not set")
        password = environ[password_env]
    username = table.get("username", str)
    if password is not None and not username:
        raise table.error("username", "missing (a password is set)")
    return EmailChannel(name=name, host=table.get("host", str, required=True), sender=table.get("from", str, required=True),
                        recipients=list(recipients), port=int(table.positive("port", 587 if starttls else 25, int)),
                        starttls=starttls, username=username, password=password,
                        timeout=float(table.positive("timeout", 10.0)), attempts=int(table.positive("attempts", 3, int)),
                        backoff=float(table.get("backoff", (int, float), 2.0)))
