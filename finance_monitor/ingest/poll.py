"""One poll of one source: fetch + parse, every failure turned into a recorded outcome.

This is what a scheduled source job calls. It never raises for anything a server or a
document can do, so one bad feed cannot stop the job or its neighbours; the job stores
``outcome`` and ``detail`` (job errors are shown on the dashboard) and keeps the returned
validators for the next conditional request::

    poll = poll_feed(url, "reuters", etag=state.etag, last_modified=state.last_modified)
    state.etag, state.last_modified = poll.etag, poll.last_modified
    store.add_articles(normalise(raw, fetched_at=now) for raw in poll.articles)

A replay source (a local file, see settings.py) is polled by :class:`ReplayPoller`: the rows whose
time, shifted onto the wall clock, has come since the source's cursor.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

from shared.datafiles import RowReport
from shared.errors import TroikaError

from ..detect.buckets import bucket_start
from .articles import RawArticle
from .fetch import FetchError, FetchLimits, fetch
from .sources import StreamReplay, parse_article_page, parse_feed

OUTCOMES = ("ok", "not_modified", "skipped", "error")
DEFAULT_LIMITS = FetchLimits()  # frozen: one instance serves every call that names none
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollResult:
    outcome: str  # one of OUTCOMES
    articles: list[RawArticle] = field(default_factory=list)
    detail: str | None = None  # why skipped / failed, or a warning on an "ok" poll
    error_kind: str | None = None  # FetchError.kind for outcome "error"
    etag: str | None = None
    last_modified: str | None = None
    bytes: int = 0


def poll_feed(url: str, source: str, etag: str | None = None, last_modified: str | None = None,
              limits: FetchLimits = DEFAULT_LIMITS) -> PollResult:
    """Fetch an RSS/Atom feed conditionally and parse it; malformed feeds are 'skipped'."""
    try:
        result = fetch(url, limits, etag=etag, last_modified=last_modified)
    except FetchError as exc:
        log.warning("feed %s (%s): %s", source, exc.kind, exc)
        # Keep the old validators: the copy we have is still the latest we know.
        return PollResult("error", detail=str(exc), error_kind=exc.kind, etag=etag, last_modified=last_modified)
    validators = dict(etag=result.etag or etag, last_modified=result.last_modified or last_modified)
    if result.not_modified:
        return PollResult("not_modified", **validators)
    feed = parse_feed(result.body, source, base_url=result.url, content_type=result.content_type)
    outcome = "skipped" if feed.skipped else "ok"
    if feed.warning:
        log.warning("feed %s %s: %s", source, outcome, feed.warning)
    return PollResult(outcome, feed.articles, feed.warning, bytes=len(result.body), **validators)


def poll_page(url: str, source: str, limits: FetchLimits = DEFAULT_LIMITS) -> PollResult:
    """Fetch one article page; a page with no article text is 'skipped'."""
    try:
        result = fetch(url, limits)
    except FetchError as exc:
        log.warning("page %s (%s): %s", source, exc.kind, exc)
        return PollResult("error", detail=str(exc), error_kind=exc.kind)
    article = parse_article_page(result.body, result.url, source)
    if article is None:
        return PollResult("skipped", detail=f"{result.url}: no article text found", bytes=len(result.body))
    return PollResult("ok", [article], bytes=len(result.body), etag=result.etag, last_modified=result.last_modified)


def replay_shift(last: dt.datetime, now: dt.datetime, size: dt.timedelta) -> dt.timedelta:
    """How far a replay source moves its rows onto the wall clock: the bucket of its ``last`` row becomes the one
    just before ``now``'s, so the whole file is history and its last (complete) bucket is the next one judged.
    Whole buckets, so every bucket holds the rows it holds in ``troika finance replay`` and raises its alerts."""
    return bucket_start(now, size) - size - bucket_start(last, size)


class ReplayPoller:
    """Polls replay sources, each file loaded once; ``bucket`` is the monitor's bucket size (see :func:`replay_shift`)."""

    def __init__(self, bucket: dt.timedelta):
        self.bucket = bucket
        self._replays: dict[str, StreamReplay] = {}

    def poll(self, name: str, path: Path, cursor: dict | None, now: dt.datetime) -> tuple[PollResult, dict | None]:
        """(the rows due by ``now``, shifted; the source's next cursor)."""
        replay = self._replays.get(name)
        if replay is None:
            try:
                report = RowReport(str(path))
                replay = self._replays[name] = StreamReplay(path, report=report)
            except (TroikaError, OSError) as exc:
                return PollResult("error", detail=str(exc)), cursor
            # Bad rows cost only themselves; the log says which, once, when the file is loaded.
            for line in report.summary_lines():
                log.warning("source %s: %s", name, line)
        cursor = dict(cursor or {})
        if "shift_seconds" not in cursor:
            cursor["shift_seconds"] = int(replay_shift(replay.end, now, self.bucket).total_seconds())
        shift = dt.timedelta(seconds=cursor["shift_seconds"])
        done = dt.datetime.fromisoformat(cursor["until"]) if cursor.get("until") else replay.articles[0].published_at
        until = now - shift + dt.timedelta(microseconds=1)  # rows at or before now
        rows = replay.between(done, until) if until > done else []
        cursor["until"] = max(until, done).isoformat()
        shifted = [dataclasses.replace(a, published_at=a.published_at + shift) for a in rows]
        return PollResult("ok", shifted), cursor
