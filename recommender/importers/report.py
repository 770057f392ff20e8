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
from typing import ClassVar

from shared.datafiles import BadRow, RowReport, numbered_rows  # BadRow: one class for every reader; the importers take it from here
from shared.errors import DataError

from ..records import Feedback, Impression, Item, NextItemCase

# Enough places to find a pattern in the bad rows without keeping a copy of a broken file.
EXAMPLES_KEPT = 5


@dataclass
class ImportReport(RowReport):
    """A RowReport (the rule every reader of a user's file shares: strict stops, else count) that
    also counts rows read and imported and groups the skipped ones by reason, as an import's
    summary shows them. ``source`` is the file (or files) it reports on."""

    rows_read: int = 0
    imported: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    strict_hint: ClassVar[str] = "; fix the row, or import without strict mode to skip and count such rows"

    @property
    def source(self) -> str:
        return self.path

    def skip(self, where: str, bad: BadRow) -> None:
        """Count a bad row under its reason, or raise in strict mode; ``where`` names the file and
        the row ("items.csv: row 3", "news.tsv: line 7", "items.json: item 'B01'")."""
        self.count_or_stop(where, bad)
        self.skipped[bad.reason] += 1
        if len(self.examples) < EXAMPLES_KEPT:
            self.examples.append(f"{where}: {bad}")

    @property
    def skipped_total(self) -> int:
        return self.count

    def summary_lines(self) -> list[str]:
        """The kept examples, then how many more: what ``shared.datafiles.print_skipped_rows`` prints."""
        more = [f"{self.path}: ... and {self.count - len(self.examples)} more bad row(s)"] if self.count > len(self.examples) else []
        return [f"skipped: {example}" for example in self.examples] + more

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
        parsed = parsed.replace(tzinfo=dt.UTC)
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
    """(line number, the header being line 1, row or BadRow) from a CSV with a header; a row
    with more fields than the header is a BadRow, one with fewer has None for the missing ones
    (each importer says which fields it needs)."""
    _, rows = numbered_rows(path, short_rows=True)
    if not rows:
        raise DataError(f"{path}: no rows (an empty file, or a CSV with only a header)")
    yield from rows
