"""Labelled text files: CSV (with a header) or JSONL, one example per row.

The formats of ../shared/data are accepted as they are (BANKING77's ``text,category``,
the phrasebank's ``sentence,label``...): the label column is found by name when not given.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DataError

TEXT_COLUMNS = ("text", "sentence", "utterance", "query", "title")
LABEL_COLUMNS = ("label", "category", "intent", "sentiment")


def read_rows(path: str | Path) -> list[dict]:
    """Rows of a .csv or .jsonl file as dicts; a DataError says what is wrong with the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            if suffix == ".csv":
                rows = list(csv.DictReader(fh))
            elif suffix in (".jsonl", ".ndjson"):
                rows = []
                for number, line in enumerate(fh, 1):
                    if line.strip():
                        row = json.loads(line)
                        if not isinstance(row, dict):
                            raise DataError(f"{path}:{number}: each line must be a JSON object")
                        rows.append(row)
            else:
                raise DataError(f"{path}: unsupported file type {suffix or '(none)'}; use .csv (with a header) or .jsonl")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    if not rows:
        raise DataError(f"{path}: no rows (an empty file, or a CSV with only a header)")
    return rows


def _pick_column(path: Path, columns: list[str], wanted: str | None, candidates: tuple[str, ...], role: str) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise DataError(f"{path}: no column {wanted!r} (columns: {', '.join(columns)})")
        return wanted
    for name in candidates:
        if name in columns:
            return name
    raise DataError(f"{path}: no {role} column found among {', '.join(columns)}; name it with --{role}-col")


def read_labelled(path: str | Path, text_col: str | None = None, label_col: str | None = None) -> tuple[list[str], list[str]]:
    """(texts, labels) from a labelled file; rows with an empty text or label are errors, not skipped."""
    path = Path(path)
    rows = read_rows(path)
    columns = list(rows[0].keys())
    text_key = _pick_column(path, columns, text_col, TEXT_COLUMNS, "text")
    label_key = _pick_column(path, columns, label_col, LABEL_COLUMNS, "label")
    texts, labels = [], []
    for number, row in enumerate(rows, 2 if path.suffix.lower() == ".csv" else 1):
        text, label = row.get(text_key), row.get(label_key)
        if text is None or not str(text).strip():
            raise DataError(f"{path}: row {number} has an empty {text_key!r}")
        if label is None or str(label).strip() == "":
            raise DataError(f"{path}: row {number} has an empty {label_key!r}")
        texts.append(str(text))
        labels.append(str(label))
    return texts, labels


def read_texts(path: str | Path, text_col: str | None = None) -> list[str]:
    """The text column of a CSV/JSONL file (labels not needed), e.g. to check agreement."""
    path = Path(path)
    rows = read_rows(path)
    key = _pick_column(path, list(rows[0].keys()), text_col, TEXT_COLUMNS, "text")
    return [str(row.get(key) or "") for row in rows]


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

    def skip(self, line: int, reason: str | BadRow) -> None:
        if self.strict:
            raise DataError(f"{self.path}:{line}: {reason} (without --strict such rows are skipped and counted)")
        self.count += 1
        if len(self.rows) < ROWS_KEPT:
            self.rows.append((line, str(reason)))

    def finish(self, parsed: int) -> None:
        """Raise when no row parsed: an empty replay would look like a calm market."""
        if parsed:
            return
        if not self.count:
            raise DataError(f"{self.path}: no rows")
        first = "; ".join(f"line {line}: {reason}" for line, reason in self.rows[:3])
        raise DataError(f"{self.path}: no row could be read ({self.count} bad; {first})")

    def summary_lines(self) -> list[str]:
        """What a user reads on stderr: ignored columns once, the kept bad rows, how many more."""
        lines = [f"{self.path}: ignored column(s) {', '.join(self.ignored_columns)}"] if self.ignored_columns else []
        lines += [f"{self.path}:{line}: skipped: {reason}" for line, reason in self.rows]
        if self.count > len(self.rows):
            lines.append(f"{self.path}: ... and {self.count - len(self.rows)} more bad row(s)")
        return lines

    def as_dict(self) -> dict:
        return {"count": self.count, "rows": [{"line": line, "reason": reason} for line, reason in self.rows],
                "ignored_columns": list(self.ignored_columns)}
