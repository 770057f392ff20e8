"""Source kinds: RSS/Atom feeds, HTML article pages, and a CSV stream replayed in simulated time.

Each turns its input into :class:`~finance_monitor.ingest.articles.RawArticle` records. Parsing is
separate from fetching (:mod:`finance_monitor.ingest.fetch`), so parsers take bytes and never
touch the network; feedparser in particular is handed bytes in a file object, never a
string it could mistake for a URL or a path.

Day-precision convention (CSV replay, and HTML pages that only carry a date): an item known
only by its date is stamped **12:00 UTC of that date** with ``time_precision="day"``
(``"month"``: 12:00 UTC on the 1st). Noon keeps the stamp inside the same UTC date for any
source whose local date was recorded in a zone between UTC-12 and UTC+11, so daily buckets
never shift such items to a neighbouring day; the precision stays on the record so that
hourly trends and spike windows can leave out (or spread) items coarser than their bucket
instead of piling them all on the noon hour.
"""

from __future__ import annotations

import bisect
import calendar
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import feedparser

from shared.datafiles import BadRow, RowReport
from shared.errors import DataError

from .articles import RawArticle

DAY_PRECISION_HOUR = 12
MIN_ARTICLE_CHARS = 80
STREAM_COLUMNS = ("published_at", "time_precision", "source", "ticker", "headline", "description")

# bozo exceptions that describe a recoverable quirk, not a broken document: the server's
# declared encoding or content type was wrong but the XML parsed.
BENIGN_BOZO = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)


def _utc_from_struct(value) -> datetime | None:
    """feedparser's parsed dates are UTC ``struct_time``s; None when absent or nonsense."""
    if not value:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def stamp_date(day: date, precision: str = "day") -> datetime:
    """The documented instant for an item known only by its date (see module docstring)."""
    if precision == "month":
        day = day.replace(day=1)
    return datetime.combine(day, time(DAY_PRECISION_HOUR), tzinfo=UTC)


# ---- RSS / Atom ------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedResult:
    """What one feed document gave: its articles, or why it was skipped.

    ``skipped`` feeds contributed nothing; ``warning`` is set for skipped feeds and for
    feeds kept despite a benign bozo flag, so the job log can show both.
    """

    articles: list[RawArticle] = field(default_factory=list)
    feed_title: str = ""
    skipped: bool = False
    warning: str | None = None


def _entry_text(entry) -> str:
    # Full content beats the summary when a feed carries both.
    for content in entry.get("content") or ():
        value = content.get("value")
        if value:
            return value
    return entry.get("summary") or entry.get("description") or ""


def parse_feed(data: bytes, source: str, base_url: str | None = None, content_type: str | None = None) -> FeedResult:
    """Articles of an RSS/Atom document.

    A document feedparser flags as malformed (``bozo``) is skipped with the parser's
    message as the warning; only :data:`BENIGN_BOZO` quirks are kept (with a warning).
    Nothing here raises on bad input.
    """
    headers = {"content-location": base_url} if base_url else {}
    # Without a header feedparser flags every document NonXMLContentType; only a content
    # type the server actually sent is worth a warning.
    headers["content-type"] = content_type or "application/xml"
    try:
        parsed = feedparser.parse(io.BytesIO(data), response_headers=headers, sanitize_html=True, resolve_relative_uris=True)
    except Exception as exc:  # feedparser catches its own errors; this is the last guard
        return FeedResult(skipped=True, warning=f"feed could not be parsed: {type(exc).__name__}: {exc}")
    warning = None
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        warning = f"malformed feed: {type(exc).__name__}: {exc}"
        if not isinstance(exc, BENIGN_BOZO):
            return FeedResult(feed_title=parsed.feed.get("title", ""), skipped=True, warning=warning)
    if not parsed.get("version") and not parsed.entries:
        return FeedResult(skipped=True, warning=warning or "not an RSS or Atom document")
    articles = []
    for entry in parsed.entries:
        published = _utc_from_struct(entry.get("published_parsed")) or _utc_from_struct(entry.get("updated_parsed"))
        link = entry.get("link")
        articles.append(
            RawArticle(
                source=source,
                title=entry.get("title") or "",
                text=_entry_text(entry),
                guid=entry.get("id") or link,
                url=link,
                published_at=published,
                time_precision="second" if published else "fetched",
            )
        )
    return FeedResult(articles=articles, feed_title=parsed.feed.get("title", ""), warning=warning)


# ---- HTML article pages ----------------------------------------------------------------


def parse_article_page(data: bytes, url: str, source: str) -> RawArticle | None:
    """Title and main text of an article page through trafilatura; None when it finds no
    article (an index page, a paywall stub, an empty body)."""
    import trafilatura  # imported here: it pulls in a large dependency tree the other sources do not need

    try:
        document = trafilatura.bare_extraction(data, url=url, with_metadata=True, include_comments=False, include_tables=False)
    except Exception:  # trafilatura on hostile markup: treat as "no article", never crash the job
        return None
    # Navigation-only pages, paywall stubs and error pages still yield a few words.
    if document is None or len((document.text or "").strip()) < MIN_ARTICLE_CHARS:
        return None
    published, precision = None, "fetched"
    if document.date:
        try:
            published, precision = stamp_date(date.fromisoformat(document.date[:10])), "day"
        except ValueError:
            pass
    return RawArticle(
        source=source,
        title=document.title or "",
        text=document.text,
        guid=url,
        url=url,
        published_at=published,
        time_precision=precision,
    )


# ---- CSV stream replay -------------------------------------------------------------


STREAM_PRECISIONS = ("second", "minute", "hour", "day", "month")
REQUIRED_COLUMNS = ("headline", "published_at")
# Columns the reader uses beyond the required ones; any other column is ignored (and named once).
OPTIONAL_COLUMNS = ("time_precision", "source", "ticker", "description", "url", "article_id", "guid")
# The precision an ISO 8601 timestamp carries, read off its shape (zone, if any, after it).
_SHAPES = (
    (re.compile(r"\d{4}-\d{2}"), "month"),
    (re.compile(r"\d{4}-\d{2}-\d{2}"), "day"),
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}(Z|[+-]\d{2}:?\d{2})?"), "hour"),
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(Z|[+-]\d{2}:?\d{2})?"), "minute"),
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?"), "second"),
)


def infer_precision(value: str) -> str:
    """The precision a timestamp's own shape shows (``2019-05-13`` is day, ``...T22:09:49Z`` second)."""
    for pattern, precision in _SHAPES:
        if pattern.fullmatch(value):
            return precision
    raise ValueError(f"{value!r} is not an ISO 8601 date or time")


def parse_stream_time(value: str, precision: str = "") -> tuple[datetime, str]:
    """``published_at`` of a stream row as (UTC instant, precision).

    An empty precision is inferred from the timestamp. Day and month items follow the noon
    convention of the module docstring; finer ones keep their time, and a time without a zone
    is taken as UTC (exports from UTC-based systems often leave the zone off).
    """
    value = value.strip()
    precision = precision.strip().lower() or infer_precision(value)
    if precision not in STREAM_PRECISIONS:
        raise ValueError(f"time_precision {precision!r}; expected {', '.join(STREAM_PRECISIONS)} or empty")
    if precision == "month":
        return stamp_date(date.fromisoformat(value[:7] + "-01"), precision), precision
    if precision == "day":
        return stamp_date(date.fromisoformat(value[:10]), precision), precision
    moment = datetime.fromisoformat(value)
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC), precision


def _cell(row: dict, key: str) -> str:
    return (row.get(key) or "").strip()


def _stream_article(row: dict, path: Path, line: int, source_prefix: str) -> RawArticle:
    """One stream row as an article; BadRow says why the row cannot be one."""
    # csv.DictReader fills the fields a short row lacks with None, and files surplus ones under None.
    if None in row.values() or None in row:
        raise BadRow("wrong number of fields")
    if not _cell(row, "headline"):
        raise BadRow("empty headline")
    try:
        published, precision = parse_stream_time(row["published_at"], row.get("time_precision") or "")
    except ValueError as exc:
        raise BadRow("bad published_at", str(exc)) from None
    ticker, url = _cell(row, "ticker"), _cell(row, "url") or None
    # An export's own id (or its link) is the dedupe key, as a feed item's guid is; without one,
    # file and line keep the key stable across replays of the same file.
    guid = _cell(row, "article_id") or _cell(row, "guid") or url or f"{path.name}:{line}"
    return RawArticle(
        source=source_prefix + _cell(row, "source"),
        title=row["headline"],
        text=row.get("description") or "",
        guid=guid,
        url=url,
        published_at=published,
        time_precision=precision,
        tickers=(ticker,) if ticker else (),
    )


def read_stream(path: str | Path, source_prefix: str = "", *, strict: bool = False, report: RowReport | None = None) -> list[RawArticle]:
    """Every good row of a stream CSV (``published_at,time_precision,source,ticker,headline,description``,
    only ``published_at`` and ``headline`` required) as articles sorted by UTC time.

    A bad row is skipped and counted in ``report`` (pass one to read it), or with ``strict``
    is a DataError naming its line; a file where no row reads is always a DataError.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    report = report if report is not None else RowReport(str(path))
    report.strict = report.strict or strict
    articles: list[RawArticle] = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        columns = list(reader.fieldnames or ())
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(STREAM_COLUMNS)}")
        report.ignored_columns = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
        try:
            for row in reader:
                try:
                    articles.append(_stream_article(row, path, reader.line_num, source_prefix))
                except BadRow as bad:
                    report.skip(reader.line_num, bad)
        except UnicodeDecodeError:
            raise DataError(f"{path}: not UTF-8 text") from None
    report.finish(len(articles))
    articles.sort(key=lambda a: a.published_at)
    return articles


class StreamReplay:
    """A stream CSV replayed on a simulated clock: no sleeping, no wall time.

    ``advance(to)`` returns the articles published in ``[cursor, to)`` and moves the
    cursor, as a scheduled fetch would see them (half-open like the spike buckets, so a
    window and a bucket with the same bounds hold the same items); ``windows(step)`` walks the whole span::

        replay = StreamReplay(path, start=datetime(2019, 5, 1, tzinfo=timezone.utc))
        for window_start, window_end, articles in replay.windows(timedelta(hours=1)):
            ...
    """

    def __init__(self, path: str | Path | None = None, start: datetime | None = None, articles: list[RawArticle] | None = None,
                 report: RowReport | None = None):
        self.articles = sorted(articles, key=lambda a: a.published_at) if articles is not None else read_stream(path, report=report)
        self._times = [a.published_at for a in self.articles]
        first = self._times[0] if self._times else datetime.now(UTC)
        self.cursor = start if start is not None else first
        if self.cursor.utcoffset() is None:
            raise ValueError("start must be timezone-aware")

    @property
    def end(self) -> datetime | None:
        return self._times[-1] if self._times else None

    def between(self, start: datetime, end: datetime) -> list[RawArticle]:
        """Articles with ``start <= published_at < end``, without moving the cursor."""
        lo = bisect.bisect_left(self._times, start)
        hi = bisect.bisect_left(self._times, end)
        return self.articles[lo:hi]

    def advance(self, to: datetime) -> list[RawArticle]:
        if to < self.cursor:
            raise ValueError(f"the simulated clock only moves forward ({to.isoformat()} < {self.cursor.isoformat()})")
        batch = self.between(self.cursor, to)
        self.cursor = to
        return batch

    def windows(self, step: timedelta, until: datetime | None = None) -> Iterator[tuple[datetime, datetime, list[RawArticle]]]:
        if step <= timedelta(0):
            raise ValueError("step must be positive")
        until = until or self.end
        while until is not None and self.cursor <= until:
            start = self.cursor
            yield start, start + step, self.advance(start + step)
