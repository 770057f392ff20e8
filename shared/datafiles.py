"""Labelled text files: CSV (with a header) or JSONL, one example per row.

The formats of ../shared/data are accepted as they are (BANKING77's ``text,category``,
the phrasebank's ``sentence,label``...): the label column is found by name when not given.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from .errors import DataError

TEXT_COLUMNS = ("text", "sentence", "utterance", "query", "title")
LABEL_COLUMNS = ("label", "category", "intent", "sentiment")


def read_rows(path: str | Path) -> list[dict]:
    """Rows of a .csv or .jsonl file as dicts; a DataError says what is wrong with the file (the
    first bad row included: a reader that skips bad rows uses :func:`numbered_rows`)."""
    _, rows = numbered_rows(path)
    if not rows:
        raise DataError(f"{path}: no rows (an empty file, or a CSV with only a header)")
    for line, row in rows:
        if isinstance(row, BadRow):
            raise DataError(f"{path}:{line}: {row}")
    return [row for _, row in rows]


def numbered_rows(path: str | Path, *, short_rows: bool = False) -> tuple[list[str], list[tuple[int, dict | BadRow]]]:
    """The columns and the ``(line, row)`` pairs of a .csv or .jsonl file, the line as an editor
    shows it. A JSONL line that is not a JSON object, or a CSV row with more or fewer fields than
    the header, comes as a BadRow in its place, so a reader reports bad rows in file order
    (:func:`good_rows`). ``short_rows`` accepts a CSV row with fewer fields, the missing ones None
    (some exports leave trailing empty fields out). An empty file gives no rows; a file that cannot
    be read is a DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    rows: list[tuple[int, dict | BadRow]] = []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            if suffix == ".csv":
                reader = csv.DictReader(fh)
                for row in reader:
                    rows.append((reader.line_num, _checked_fields(row, reader.fieldnames, short_rows)))
                columns = list(reader.fieldnames or [])
            elif suffix in (".jsonl", ".ndjson"):
                rows = [(number, _json_object(line)) for number, line in enumerate(fh, 1) if line.strip()]
                columns = next((list(row) for _, row in rows if isinstance(row, dict)), [])
            else:
                raise DataError(f"{path}: unsupported file type {suffix or '(none)'}; use .csv (with a header) or .jsonl")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    return columns, rows


def readable_rows(path: str | Path, report: RowReport) -> tuple[list[str], list[tuple[int, dict | BadRow]]]:
    """:func:`numbered_rows`, but a file with no columns to read (empty, or not one JSON object
    in it) is the report's error at once, quoting why its lines failed."""
    columns, rows = numbered_rows(path)
    if not columns:
        report.finish(sum(1 for _ in good_rows(rows, report)))
    return columns, rows


def good_rows(rows: list[tuple[int, dict | BadRow]], report: RowReport) -> Iterator[tuple[int, dict]]:
    """The rows that parsed, the others skipped into ``report`` as the loop reaches them."""
    for line, row in rows:
        if isinstance(row, BadRow):
            report.skip(line, row)
        else:
            yield line, row


def _checked_fields(row: dict, header: list[str], short_rows: bool) -> dict | BadRow:
    # csv.DictReader files surplus fields under None and fills missing ones with None.
    surplus = len(row.get(None) or [])
    missing = 0 if short_rows else sum(v is None for k, v in row.items() if k is not None)
    if surplus or missing:
        return BadRow("wrong number of fields", f"{len(header) + surplus - missing} field(s), the header has {len(header)}")
    return row


def _json_object(line: str) -> dict | BadRow:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        return BadRow("invalid JSON", exc.msg)
    return row if isinstance(row, dict) else BadRow("not a JSON object")


def _pick_column(path: Path, columns: list[str], wanted: str | None, candidates: tuple[str, ...], role: str) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise DataError(f"{path}: no column {wanted!r} (columns: {', '.join(columns)})")
        return wanted
    for name in candidates:
        if name in columns:
            return name
    raise DataError(f"{path}: no {role} column found among {', '.join(columns)}; name it with --{role}-col")


def read_labelled(path: str | Path, text_col: str | None = None, label_col: str | None = None,
                  report: RowReport | None = None) -> tuple[list[str], list[str]]:
    """(texts, labels) from a labelled file. A row with an empty text or label, too few fields or
    broken JSON is skipped into ``report`` with its line and reason; without one it is an error
    (a caller that cannot show the skipped rows must not lose them silently)."""
    path = Path(path)
    report = report if report is not None else RowReport(str(path), strict=True)
    columns, rows = readable_rows(path, report)
    text_key = _pick_column(path, columns, text_col, TEXT_COLUMNS, "text")
    label_key = _pick_column(path, columns, label_col, LABEL_COLUMNS, "label")
    texts, labels = [], []
    for line, row in good_rows(rows, report):
        text, label = row.get(text_key), row.get(label_key)
        if text is None or not str(text).strip():
            report.skip(line, f"empty {text_key!r}")
        elif label is None or str(label).strip() == "":
            report.skip(line, f"empty {label_key!r}")
        else:
            texts.append(str(text))
            labels.append(str(label))
    report.finish(len(texts))
    return texts, labels


def read_texts(path: str | Path, text_col: str | None = None, report: RowReport | None = None,
               candidates: tuple[str, ...] = TEXT_COLUMNS) -> list[str]:
    """The text column of a CSV/JSONL file (labels not needed), the first of ``candidates`` it has
    unless ``text_col`` names it. Without a ``report`` every row's text comes back, empty ones too
    (an agreement check counts them); with one, empty texts are skipped into it and a file with
    none is an error."""
    path = Path(path)
    if report is None:
        rows = read_rows(path)
        key = _pick_column(path, list(rows[0]), text_col, candidates, "text")
        return [str(row.get(key) or "") for row in rows]
    columns, numbered = readable_rows(path, report)
    key = _pick_column(path, columns, text_col, candidates, "text")
    texts = []
    for line, row in good_rows(numbered, report):
        text = str(row.get(key) or "")
        if text.strip():
            texts.append(text)
        else:
            report.skip(line, f"empty {key!r}")
    report.finish(len(texts))
    return texts


# ---- bad rows: counted and skipped, or fatal in strict mode --------------------------------

# Enough places to find a pattern in the bad rows without echoing a whole broken file.
ROWS_KEPT = 20


class BadRow(Exception):
    """Raised by a row parser; :meth:`RowReport.skip` (or the recommender's ``ImportReport``)
    turns it into a counted skip or, in strict mode, a DataError."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return self.reason + (f" ({self.detail})" if self.detail else "")


@dataclass
class RowReport:
    """The bad rows of one file: each skipped with its line and reason, never silently.

    ``strict`` turns the first bad row into a DataError instead; :meth:`finish` makes a file
    where nothing parsed an error that quotes the first reasons.
    """

    path: str
    strict: bool = False
    count: int = 0
    rows: list[tuple[int, str]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @classmethod
    def added_to(cls, reports: list[RowReport] | None, path: str | Path, strict: bool = False) -> RowReport | None:
        """A new report for ``path`` appended to ``reports``; None when the caller collects none
        (its reader then stops at the first bad row, as library callers always had it)."""
        if reports is None:
            return None
        report = cls(str(path), strict=strict)
        reports.append(report)
        return report

    # What a strict-mode error adds: how to have such rows skipped instead.
    strict_hint: ClassVar[str] = " (without --strict such rows are skipped and counted)"

    def skip(self, line: int | str, reason: str | BadRow) -> None:
        """Skip a bad row: ``line`` is its line number, or a place in words where a file has no
        lines to speak of (``"intent 'refund'"`` in a YAML mapping)."""
        self.count_or_stop(f"{self.path}:{line}" if isinstance(line, int) else f"{self.path}: {line}", reason)
        if len(self.rows) < ROWS_KEPT:
            self.rows.append((line, str(reason)))

    def count_or_stop(self, where: str, reason: str | BadRow) -> None:
        """The rule every reader shares: a DataError in strict mode, else one more bad row counted."""
        if self.strict:
            raise DataError(f"{where}: {reason}{self.strict_hint}")
        self.count += 1

    def finish(self, parsed: int) -> None:
        """Raise when no row parsed: an empty replay would look like a calm market."""
        if parsed:
            return
        if not self.count:
            raise DataError(f"{self.path}: no rows")
        first = "; ".join(f"{'line ' if isinstance(line, int) else ''}{line}: {reason}" for line, reason in self.rows[:3])
        raise DataError(f"{self.path}: no row could be read ({self.count} bad; {first})")

    def summary_lines(self) -> list[str]:
        """What a user reads on stderr: ignored columns once, the kept bad rows, how many more."""
        lines = [f"{self.path}: ignored column(s) {', '.join(self.ignored_columns)}"] if self.ignored_columns else []
        lines += [f"{self.path}:{line}: skipped: {reason}" if isinstance(line, int) else f"{self.path}: {line}: skipped: {reason}"
                  for line, reason in self.rows]
        if self.count > len(self.rows):
            lines.append(f"{self.path}: ... and {self.count - len(self.rows)} more bad row(s)")
        return lines

    def as_dict(self) -> dict:
        return {"count": self.count, "rows": [{"line": line, "reason": reason} for line, reason in self.rows],
                "ignored_columns": list(self.ignored_columns)}


@dataclass
class FileReports:
    """One RowReport per file that a command or a server start reads, all strict or none."""

    strict: bool = False
    reports: list[RowReport] = field(default_factory=list)

    def new(self, path: str | Path) -> RowReport:
        return RowReport.added_to(self.reports, path, self.strict)

    @staticmethod
    @contextmanager
    def or_logged(given: FileReports | None, logger) -> Iterator[FileReports]:
        """``given`` when a caller collects the reports (a CLI prints them); else new ones whose
        skipped rows are logged as warnings when the block ends, as a server, with no terminal to
        print to, must do before it goes on with the good rows."""
        if given is not None:
            yield given
            return
        reports = FileReports()
        try:
            yield reports
        finally:
            for report in reports.reports:
                for line in report.summary_lines():
                    logger.warning("%s", line)


def print_skipped_rows(reports, file=None) -> str:
    """Each report's skipped rows on stderr (stdout may carry JSON); returns the tail a command's
    one-line summary ends with, so the count is the last thing a user reads."""
    for report in reports:
        for line in report.summary_lines():
            print(line, file=file or sys.stderr)
    count = sum(report.count for report in reports)
    return f"; {count} bad row(s) skipped" + (" (listed above)" if count else "")
