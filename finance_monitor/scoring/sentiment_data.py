"""Labelled finance-sentiment files, in the two formats of ../shared/data, read as they are.

A file is recognised by its columns (CSV with a header, or JSONL):

- PhraseBank-style ``sentence,label[,agreement]``: labels ``negative`` / ``neutral`` / ``positive``;
  ``agreement`` (a percentage: 50, 66, 75, 100) is kept, so results can be given on the
  rows every annotator agreed on.
- Twitter-style ``text,label``: ``0`` = Bearish → negative, ``1`` = Bullish → positive,
  ``2`` = Neutral → neutral.

Anything else is one DataError line naming the file and what was expected. Both formats end
as the same three labels, so one model trains on both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from shared.datafiles import BadRow, RowReport, read_rows
from shared.errors import DataError

LABELS = ("negative", "neutral", "positive")
TWITTER_CODES = {"0": "negative", "1": "positive", "2": "neutral"}  # Bearish, Bullish, Neutral

PHRASEBANK = "phrasebank"
TWITTER = "twitter"
EXPECTED = "expected PhraseBank-style columns sentence,label[,agreement] or Twitter-style text,label"


@dataclass
class SentimentRows:
    """Texts with their three-way labels; ``agreement`` is None per row where the file has none."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    agreement: list[int | None] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)  # the format of each file read, in order

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def has_agreement(self) -> bool:
        return any(a is not None for a in self.agreement)

    def extend(self, other: SentimentRows) -> None:
        self.texts += other.texts
        self.labels += other.labels
        self.agreement += other.agreement
        self.formats += other.formats


def detect_format(path: Path, columns: Iterable[str]) -> str:
    columns = set(columns)
    if {"sentence", "label"} <= columns and "text" not in columns:
        return PHRASEBANK
    if {"text", "label"} <= columns and "sentence" not in columns:
        return TWITTER
    shown = ", ".join(sorted(columns)) or "(none)"
    raise DataError(f"{path}: columns {shown} are not a sentiment file; {EXPECTED}")


def _label(value, fmt: str) -> str:
    raw = "" if value is None else str(value).strip()
    if fmt == TWITTER:
        # JSONL may hold the codes as numbers; 2.0 from a spreadsheet export is still Neutral.
        code = raw[:-2] if raw.endswith(".0") else raw
        if code in TWITTER_CODES:
            return TWITTER_CODES[code]
        raise BadRow(f"label {raw!r} is not 0 (Bearish), 1 (Bullish) or 2 (Neutral)")
    if raw.lower() in LABELS:
        return raw.lower()
    raise BadRow(f"label {raw!r} is not one of {', '.join(LABELS)}")


def _agreement(path: Path, number: int, value) -> int | None:
    raw = "" if value is None else str(value).strip()
    if raw == "":
        return None
    try:
        level = int(float(raw))
    except ValueError:
        level = -1
    if not 0 <= level <= 100:
        raise DataError(f"{path}: row {number}: agreement {raw!r} is not a percentage between 0 and 100")
    return level


def read_sentiment_file(path: str | Path, report: RowReport | None = None) -> SentimentRows:
    """One file's rows; empty texts are errors naming the row. A row with an unknown label is an
    error too, unless a ``report`` is given: then it is skipped and counted there (``report.strict``
    still stops at it), and a file left with no rows is an error."""
    path = Path(path)
    rows = read_rows(path)
    fmt = detect_format(path, rows[0].keys())
    text_key = "sentence" if fmt == PHRASEBANK else "text"
    has_agreement = fmt == PHRASEBANK and "agreement" in rows[0]
    first = 2 if path.suffix.lower() == ".csv" else 1  # the number a user sees in an editor
    out = SentimentRows(formats=[fmt])
    for number, row in enumerate(rows, first):
        text = row.get(text_key)
        if text is None or not str(text).strip():
            raise DataError(f"{path}: row {number} has an empty {text_key!r}")
        try:
            label = _label(row.get("label"), fmt)
        except BadRow as bad:
            if report is None:
                raise DataError(f"{path}: row {number}: {bad}") from None
            report.skip(number, bad)
            continue
        out.texts.append(str(text))
        out.labels.append(label)
        out.agreement.append(_agreement(path, number, row.get("agreement")) if has_agreement else None)
    if report is not None:
        report.finish(len(out.texts))
    return out


def read_sentiment_files(paths: Iterable[str | Path], reports: list[RowReport] | None = None, strict: bool = False) -> SentimentRows:
    """Several files of either format as one set (PhraseBank + Twitter train one model).

    With ``reports`` (a list to fill, one RowReport per file) rows with unknown labels are skipped
    and counted unless ``strict``; without it they are errors, as they always were for library callers."""
    out = SentimentRows()
    for path in paths:
        out.extend(read_sentiment_file(path, RowReport.added_to(reports, path, strict)))
    if not out.texts:
        raise DataError("no sentiment files given")
    return out
