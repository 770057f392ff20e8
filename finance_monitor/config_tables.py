"""Lists of named tables in troika.toml: ``[[finance_monitor.sources]]``, ``.rules``, ``.topics``, ``.channels``.

All four are walked the same way, so every mistake is a ConfigError that starts with the key as written::

    names = Names("source")
    for at, table in tables(entries, "finance_monitor.sources", "a source has name, kind, url or path, interval"):
        no_unknown_keys(at, table, {"name", "kind", "url", "path", "interval"}, "a source has ...")
        name = names.take(at, table.get("name"))   # finance_monitor.sources[1].name: 'x' is already the name of ...[0]
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping

from shared.errors import ConfigError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
NAME_RULE = "1-64 letters, digits, '-' or '_', starting with a letter or digit"


def tables(entries, where: str, shape: str) -> Iterator[tuple[str, Mapping]]:
    """Each table of the ``[[where]]`` list with its key path (``where[i]``); ``shape`` says what a table holds."""
    if not isinstance(entries, (list, tuple)):
        raise ConfigError(f"{where}: must be a list of tables ([[{where}]]), each {shape}")
    for i, entry in enumerate(entries):
        at = f"{where}[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{at}: must be a table, {shape}; got {type(entry).__name__}")
        yield at, entry


def no_unknown_keys(at: str, table: Mapping, allowed: Collection[str], shape: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(f"{at}.{unknown[0]}: unknown key; {shape}")


class Names:
    """The names given so far in one list of tables: a second use is an error that says where the first was."""

    def __init__(self, what: str, pattern: re.Pattern = NAME, rule: str = NAME_RULE, reserved: Mapping[str, str] | None = None):
        self.what, self.pattern, self.rule = what, pattern, rule
        self.taken = dict(reserved or {})  # name -> what it already is, for the message

    def take(self, at: str, name) -> str:
        return self.unique(at, self.valid(at, name))

    def valid(self, at: str, name) -> str:
        if not isinstance(name, str) or not self.pattern.match(name):
            raise ConfigError(f"{at}.name: must be {self.rule}; got {name!r}")
        return name

    def unique(self, at: str, name: str) -> str:
        if name in self.taken:
            raise ConfigError(f"{at}.name: {name!r} is {self.taken[name]}; give each {self.what} its own name")
        self.taken[name] = f"already the name of {at}"
        return name
