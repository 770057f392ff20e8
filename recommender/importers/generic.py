"""Items and feedback from any CSV (with a header) or JSONL file, columns found by name.

Each field has a list of accepted column names, tried in order, gorse's own field names
among them (``ItemId``, ``Comment``, ``Labels``/``Categories``, ``FeedbackType``...), so an
export from gorse imports unchanged. Pass ``columns={"title": "headline"}`` to name a
column the lists do not know. In CSV, categories are one cell split on ``|``; in JSONL, a
list or such a string. Timestamps are Unix seconds or ISO 8601.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from shared.errors import DataError

from ..records import CLICK, Feedback, Item
from .report import BadRow, ImportReport, categories, csv_rows, existing_file, jsonl_rows, number, required, timestamp

ITEM_COLUMNS = {
    "id": ("id", "item_id", "itemId", "ItemId", "item"),
    "title": ("title", "name", "Title"),
    "text": ("text", "description", "body", "abstract", "Comment", "comment"),
    "categories": ("categories", "category", "genres", "labels", "Categories", "Labels"),
    "timestamp": ("timestamp", "time", "published", "Timestamp"),
}
FEEDBACK_COLUMNS = {
    "user": ("user", "user_id", "userId", "UserId"),
    "item": ("item", "item_id", "itemId", "ItemId"),
    "type": ("type", "feedback_type", "FeedbackType"),
    "value": ("value", "rating", "Value"),
    "timestamp": ("timestamp", "time", "Timestamp"),
}
REQUIRED_ITEM = ("id",)
REQUIRED_FEEDBACK = ("user", "item")


def _rows(path: Path) -> Iterator[tuple[str, dict | BadRow]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return ((f"{path}: row {n}", row) for n, row in csv_rows(path))
    if suffix in (".jsonl", ".ndjson"):
        return ((f"{path}: line {n}", row) for n, row in jsonl_rows(path))
    raise DataError(f"{path}: unsupported file type {suffix or '(none)'}; use .csv (with a header) or .jsonl")


def _resolve(path: Path, header: set[str], candidates: dict, wanted: Mapping[str, str], needed: tuple[str, ...]) -> dict[str, str | None]:
    """Field -> column name in this file (None when absent and optional)."""
    unknown = set(wanted) - set(candidates)
    if unknown:
        raise DataError(f"unknown field(s) {', '.join(sorted(unknown))}; the fields are {', '.join(candidates)}")
    chosen = {}
    for name, options in candidates.items():
        if name in wanted:
            if wanted[name] not in header:
                raise DataError(f"{path}: no column {wanted[name]!r} (columns: {', '.join(sorted(header))})")
            chosen[name] = wanted[name]
        else:
            chosen[name] = next((c for c in options if c in header), None)
        if chosen[name] is None and name in needed:
            raise DataError(f"{path}: no {name} column (tried {', '.join(options)}; columns: {', '.join(sorted(header))})")
    return chosen


def _import(path, candidates, columns, needed, make, strict):
    path = existing_file(path)
    report = ImportReport(str(path), strict)
    records, keys = [], None
    for where, row in _rows(path):
        report.rows_read += 1
        try:
            if isinstance(row, BadRow):
                raise row
            if keys is None:
                # JSONL rows may each have their own keys: the first good row decides, and
                # a later row lacking a required one is a counted bad row like any other.
                keys = _resolve(path, set(row), candidates, columns or {}, needed)
            record = make(row, keys)
        except BadRow as bad:
            report.skip(where, bad)
            continue
        records.append(record)
        report.imported += 1
    if report.rows_read == 0:
        raise DataError(f"{path}: no rows")
    return records, report


def import_items(path: str | Path, *, columns: Mapping[str, str] | None = None, strict: bool = False) -> tuple[list[Item], ImportReport]:
    seen: set[str] = set()

    def make(row, keys):
        item_id = required(row, keys["id"])
        if item_id in seen:
            raise BadRow("duplicate item id", item_id)
        title = str(row.get(keys["title"]) or "").strip() if keys["title"] else ""
        text = str(row.get(keys["text"]) or "").strip() if keys["text"] else ""
        if not title and not text:
            raise BadRow("missing field", "title or text")
        cats = categories(row.get(keys["categories"])) if keys["categories"] else ()
        when = timestamp(row.get(keys["timestamp"])) if keys["timestamp"] else None
        seen.add(item_id)
        # A text-only item (gorse's Comment without a title) reads its text as its title.
        return Item(item_id, title or text, text if title else "", cats, when)

    return _import(path, ITEM_COLUMNS, columns, REQUIRED_ITEM, make, strict)


def import_feedback(
    path: str | Path,
    known_items=None,
    *,
    columns: Mapping[str, str] | None = None,
    default_type: str = CLICK,
    strict: bool = False,
) -> tuple[list[Feedback], ImportReport]:
    """Feedback rows; with ``known_items``, a row about an item outside it is a bad row."""

    def make(row, keys):
        user, item = required(row, keys["user"]), required(row, keys["item"])
        if known_items is not None and item not in known_items:
            raise BadRow("unknown item", item)
        kind = str(row.get(keys["type"]) or "").strip() if keys["type"] else ""
        raw_value = row.get(keys["value"]) if keys["value"] else None
        value = 1.0 if raw_value is None or raw_value == "" else number(raw_value, "value")
        when = timestamp(row.get(keys["timestamp"])) if keys["timestamp"] else None
        return Feedback(user, item, kind or default_type, value, when)

    return _import(path, FEEDBACK_COLUMNS, columns, REQUIRED_FEEDBACK, make, strict)
