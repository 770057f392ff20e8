"""What an import produced and what it skipped, and the field parsers the importers share.

Every bad row either stops the import (``strict=True``: a ``DataError`` naming the file,
the row and the reason) or is counted under its reason in ``ImportReport.skipped``, with
the first few places kept so a user can go and look. Nothing is dropped silently.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from shared.datafiles import BadRow  # one class for every reader; the importers take it from here
from shared.errors import DataError

from ..records import Feedback, Impression, Item, NextItemCase

# Enough places to find a pattern in the bad rows without keeping a copy of a broken file.
EXAMPLES_KEPT = 5


@dataclass
class ImportReport:
    source: str
    strict: bool = False
    rows_read: int = 0
    imported: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def skip(self, where: str, bad: BadRow) -> None:
        """Count a bad row under its reason, or raise in strict mode."""
        message = f"{where}: {bad.reason}" + (f" ({bad.detail})" if bad.detail else "")
        if self.strict:
            raise DataError(f"{message}; fix the row, or import without strict mode to skip and count such rows")
        self.skipped[bad.reason] += 1
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples.append(message)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def summary(self) -> str:
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        return f"{self.source}: {self.rows_read} rows read, {self.imported} imported, {self.skipped_total} skipped" + (
            f" ({reasons})" if reasons else ""
        )

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "imported": self.imported,
            "skipped": dict(self.skipped),
            "examples": list(self.examples),
        }


@dataclass
class ImportResult:
    items: list[Item] = field(default_factory=list)
    feedback: list[Feedback] = field(default_factory=list)
    impressions: list[Impression] = field(default_factory=list)
    cases: list[NextItemCase] = field(default_factory=list)
    reports: list[ImportReport] = field(default_factory=list)

    def summary(self) -> str:
        return "; ".join(r.summary() for r in self.reports)


# --- field parsers (each raises BadRow with a reason the report groups by) ----------------


def required(row: dict, key: str) -> str:
    value = row.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise BadRow("missing field", key)
    return str(value).strip()


def number(value, what: str) -> float:
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise BadRow(f"bad {what}", repr(value)) from None
    if not math.isfinite(result):
        raise BadRow(f"bad {what}", repr(value))
    return result


def timestamp(value) -> float | None:
    """Unix seconds from a number or an ISO 8601 string; None for an empty value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return number(value, "timestamp")
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRow("bad timestamp", repr(text)) from None
    if parsed.tzinfo is None:  # a time without a zone is taken as UTC, as gorse does
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.timestamp()


def categories(value, separator: str = "|") -> tuple[str, ...]:
    """Categories from a list, or a string split on ``separator``; blanks dropped, order kept."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(separator)
    elif not isinstance(value, (list, tuple)):
        raise BadRow("bad categories", repr(value))
    return tuple(dict.fromkeys(str(c).strip() for c in value if str(c).strip()))


def jsonl_rows(path: Path) -> Iterator[tuple[int, dict | BadRow]]:
    """(line number, row or BadRow) for each non-blank line: one broken line must not cost the file."""
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        for number_, line in enumerate(fh, 1):
            if any("\udc80" <= ch <= "\udcff" for ch in line):
                yield number_, BadRow("not UTF-8 text")
                continue
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number_, BadRow("invalid JSON", exc.msg)
                continue
            yield number_, row if isinstance(row, dict) else BadRow("not a JSON object")


def existing_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    return path


def csv_rows(path: Path) -> Iterator[tuple[int, dict | BadRow]]:
    """(row number counting the header as 1, row or BadRow) from a CSV with a header."""
    from shared.datafiles import read_rows

    for number_, row in enumerate(read_rows(path), 2):
        # csv.DictReader files surplus fields under None and fills missing ones with None.
        if None in row:
            yield number_, BadRow("wrong number of fields", f"{len(row) - 1 + len(row[None])} fields")
        else:
            yield number_, row
