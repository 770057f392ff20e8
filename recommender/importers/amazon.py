"""Amazon Reviews 2018 as preprocessed by MiniOneRec (../shared/data/amazon2018_industrial_office).

Items: one JSON object ``{"<id>": {"title", "description", "brand", "categories"}}`` where
``description`` is a Python-literal list of strings (often with HTML and CSS from the
listing). Interactions: CSVs with one row per purchase review, ``user_id``, the up to 10
previous items ``history_item_id`` (a list literal, oldest first) and the target ``item_id``.

The files hold no times, but each CSV is in chronological order, so a row's position is
its timestamp: pass ``first_timestamp`` so that a later file continues where the earlier
one stopped.
"""

from __future__ import annotations

import ast
import html
import json
import re
from pathlib import Path

from shared.errors import DataError

from ..records import CLICK, Feedback, Item, NextItemCase
from .report import BadRow, ImportReport, ImportResult, categories, csv_rows, existing_file, required

# The encoder reads ~256 word pieces (about 1,000 characters); a cap a little above that keeps
# tokenising the longest listings (tens of kB of CSS) from dominating the embedding time.
MAX_TEXT_CHARS = 2000
_COMMENT = re.compile(r"<!--.*?(-->|$)", re.S)
_STYLE = re.compile(r"<(style|script)\b.*?(</\1>|$)", re.S | re.I)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


def clean_description(raw) -> str:
    """Plain text from a description: the list literal joined, markup and entities removed."""
    if isinstance(raw, list):
        parts = raw
    else:
        text = str(raw or "").strip()
        try:
            parts = ast.literal_eval(text) if text.startswith("[") else [text]
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            parts = [text]
        if not isinstance(parts, (list, tuple)):
            parts = [str(parts)]
    text = " ".join(str(p) for p in parts)
    text = _TAG.sub(" ", _STYLE.sub(" ", _COMMENT.sub(" ", text)))
    return _SPACE.sub(" ", html.unescape(text)).strip()[:MAX_TEXT_CHARS]


def read_amazon_items(path: str | Path, *, brand_as_category: bool = False, strict: bool = False) -> tuple[list[Item], ImportReport]:
    """Catalogue items; the brand goes into the text, and into the categories if asked
    (the 2018 files' ``categories`` are empty, and the brand is the nearest thing to one)."""
    path = existing_file(path)
    report = ImportReport(str(path), strict)
    try:
        catalogue = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: not a JSON file ({exc})") from None
    if not isinstance(catalogue, dict):
        raise DataError(f"{path}: expected one JSON object mapping item ids to items")
    items = []
    for item_id, entry in catalogue.items():
        report.rows_read += 1
        try:
            if not isinstance(entry, dict):
                raise BadRow("not a JSON object")
            title = required(entry, "title")
            brand = str(entry.get("brand") or "").strip()
            cats = categories(entry.get("categories"), ",")
        except BadRow as bad:
            report.skip(f"{path}: item {item_id!r}", bad)
            continue
        if brand_as_category and brand:
            cats = tuple(dict.fromkeys((*cats, brand)))
        body = " ".join(p for p in (f"Brand: {brand}." if brand else "", clean_description(entry.get("description"))) if p)
        items.append(Item(str(item_id), html.unescape(title), body, cats))
        report.imported += 1
    return items, report


def read_amazon_rows(path: str | Path, known_items, *, first_timestamp: float = 0.0,
                     strict: bool = False) -> tuple[list[NextItemCase], list[Feedback], ImportReport]:
    """One NextItemCase per row, and the row's target as a click by that user at that time."""
    path = existing_file(path)
    report = ImportReport(str(path), strict)
    cases, feedback = [], []
    for row_number, row in csv_rows(path):
        report.rows_read += 1
        try:
            if isinstance(row, BadRow):
                raise row
            user, target = required(row, "user_id"), required(row, "item_id")
            history = _id_list(required(row, "history_item_id"))
            unknown = [i for i in (*history, target) if i not in known_items]
            if unknown:
                raise BadRow("unknown item", ", ".join(unknown[:3]))
        except BadRow as bad:
            report.skip(f"{path}: row {row_number}", bad)
            continue
        when = first_timestamp + report.imported
        cases.append(NextItemCase(user, history, target, when))
        feedback.append(Feedback(user, target, CLICK, 1.0, when))
        report.imported += 1
    return cases, feedback, report


def import_amazon(items_path: str | Path, *rows_paths: str | Path, brand_as_category: bool = False, strict: bool = False) -> ImportResult:
    """The catalogue and any number of interaction files, in chronological order."""
    result = ImportResult()
    result.items, report = read_amazon_items(items_path, brand_as_category=brand_as_category, strict=strict)
    result.reports.append(report)
    known = {item.id for item in result.items}
    for rows_path in rows_paths:
        first = result.cases[-1].timestamp + 1 if result.cases else 0.0
        cases, feedback, report = read_amazon_rows(rows_path, known, first_timestamp=first, strict=strict)
        result.cases.extend(cases)
        result.feedback.extend(feedback)
        result.reports.append(report)
    return result


def _id_list(text: str) -> tuple[str, ...]:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise BadRow("bad history", text[:40]) from None
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, (int, str)) and not isinstance(v, bool) for v in value):
        raise BadRow("bad history", text[:40])
    return tuple(str(v) for v in value)
