"""The MIND news format (Microsoft News Dataset): ``news.tsv`` and ``behaviors.tsv``.

Both are tab-separated without a header. ``news.tsv``: news id, category, subcategory,
title, abstract, url, title entities, abstract entities. ``behaviors.tsv``: impression id,
user id, time ("11/15/2019 8:55:22 AM"), the user's earlier clicks (space-separated news
ids, oldest first) and the impression ("N1-1 N2-0": shown news, 1 = clicked).

Each behaviour row gives an Impression and one click per clicked item. The history clicks
happened before the log starts and carry no time: they become clicks timed one second
apart just before the user's first impression, which keeps their order (recency-weighted
user vectors use it) and keeps them earlier than everything logged.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

from shared.errors import DataError

from ..records import CLICK, Feedback, Impression, Item
from .report import BadRow, ImportReport, ImportResult, existing_file

MIND_TIME = "%m/%d/%Y %I:%M:%S %p"
NEWS_FIELDS = 8
BEHAVIOUR_FIELDS = 5


def _tsv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            # MIND titles hold bare quotes: quoting off, or a quote would swallow the next lines.
            for line_number, fields in enumerate(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
                if fields and any(f.strip() for f in fields):
                    yield line_number, fields
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None


def _mind_time(text: str) -> float:
    try:
        return float(calendar.timegm(dt.datetime.strptime(text.strip(), MIND_TIME).timetuple()))
    except ValueError:
        raise BadRow("bad timestamp", repr(text)) from None


def read_mind_news(path: str | Path, *, strict: bool = False) -> tuple[list[Item], ImportReport]:
    path = existing_file(path)
    report = ImportReport(str(path), strict)
    items: dict[str, Item] = {}
    for line_number, fields in _tsv_rows(path):
        report.rows_read += 1
        try:
            if len(fields) != NEWS_FIELDS:
                raise BadRow("wrong number of fields", f"{len(fields)} instead of {NEWS_FIELDS}")
            news_id, category, subcategory, title, abstract = (f.strip() for f in fields[:5])
            if not news_id:
                raise BadRow("missing field", "news id")
            if not title:
                raise BadRow("missing field", "title")
            if news_id in items:
                raise BadRow("duplicate item id", news_id)
        except BadRow as bad:
            report.skip(f"{path}: line {line_number}", bad)
            continue
        items[news_id] = Item(news_id, title, abstract, tuple(c for c in (category, subcategory) if c))
        report.imported += 1
    return list(items.values()), report


def read_mind_behaviors(path: str | Path, known_items, *, strict: bool = False) -> tuple[list[Impression], list[Feedback], ImportReport]:
    path = existing_file(path)
    report = ImportReport(str(path), strict)
    impressions, clicks = [], []
    histories: dict[str, tuple[float, list[str]]] = {}  # user -> (first impression time, history)
    for line_number, fields in _tsv_rows(path):
        report.rows_read += 1
        try:
            if len(fields) != BEHAVIOUR_FIELDS:
                raise BadRow("wrong number of fields", f"{len(fields)} instead of {BEHAVIOUR_FIELDS}")
            impression_id, user = fields[0].strip(), fields[1].strip()
            if not impression_id or not user:
                raise BadRow("missing field", "impression id" if not impression_id else "user id")
            when = _mind_time(fields[2])
            history = fields[3].split()
            shown, clicked = _impression(fields[4])
            unknown = [i for i in (*history, *shown) if i not in known_items]
            if unknown:
                raise BadRow("unknown item", ", ".join(unknown[:3]))
        except BadRow as bad:
            report.skip(f"{path}: line {line_number}", bad)
            continue
        impressions.append(Impression(user, shown, frozenset(clicked), when, impression_id))
        clicks.extend(Feedback(user, item, CLICK, 1.0, when) for item in clicked)
        # MIND repeats a user's (fixed) history on every row: keep one, timed before the first row.
        start, known_history = histories.get(user, (when, []))
        histories[user] = (min(start, when), known_history or list(dict.fromkeys(history)))
        report.imported += 1
    earlier = [
        Feedback(user, item, CLICK, 1.0, start - (len(history) - position))
        for user, (start, history) in histories.items()
        for position, item in enumerate(history)
    ]
    return impressions, earlier + clicks, report


def _impression(text: str) -> tuple[tuple[str, ...], list[str]]:
    shown, clicked = [], []
    for token in text.split():
        item, sep, label = token.rpartition("-")
        if not sep or not item or label not in ("0", "1"):
            raise BadRow("bad impression", token)
        shown.append(item)
        if label == "1":
            clicked.append(item)
    if not shown:
        raise BadRow("missing field", "impressions")
    if len(set(shown)) != len(shown):
        raise BadRow("bad impression", "an item shown twice")
    return tuple(shown), clicked


def import_mind(directory: str | Path, *, strict: bool = False) -> ImportResult:
    """``directory/news.tsv`` and ``directory/behaviors.tsv`` (a MIND split folder)."""
    directory = Path(directory)
    result = ImportResult()
    result.items, report = read_mind_news(directory / "news.tsv", strict=strict)
    result.reports.append(report)
    result.impressions, result.feedback, report = read_mind_behaviors(
        directory / "behaviors.tsv", {i.id for i in result.items}, strict=strict
    )
    result.reports.append(report)
    return result
