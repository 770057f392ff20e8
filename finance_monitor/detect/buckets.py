"""Per-topic time buckets: scored items counted into dense, epoch-aligned windows.

What trends chart and what spike detectors test::

    series = bucketise(items, size=timedelta(days=1))   # {topic: TopicSeries}
    series["banks"].buckets[-1].negative, .total, .top_negative

Items whose time precision is coarser than the bucket (day-precision news in hourly
buckets) are counted in ``TopicSeries.too_coarse`` instead of being placed arbitrarily.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The widest span a precision can stand for; items wider than a bucket cannot be placed in it.
PRECISION_SPAN = {
    "second": timedelta(seconds=1),
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "fetched": timedelta(0),
    "day": timedelta(days=1),
    "month": timedelta(days=31),
}


@dataclass(frozen=True)
class ScoredItem:
    """One article's contribution to one topic (an article in two topics gives two items)."""

    item_id: str
    topic: str
    published_at: datetime
    negative: bool
    negativity: float = 0.0  # P(negative) or a proxy; ranks the evidence headlines
    time_precision: str = "minute"


@dataclass(frozen=True)
class Bucket:
    start: datetime
    total: int = 0
    negative: int = 0
    top_negative: tuple[str, ...] = ()  # ids of the most negative items, most negative first
    top_negativity: tuple[float, ...] = ()  # their scores, so merged windows can re-rank them
    volume: int = 0  # articles of every topic in this bucket: all the news, which a topic's negatives are compared with

    @property
    def share(self) -> float:
        return self.negative / self.total if self.total else 0.0


def merge_buckets(buckets: Sequence[Bucket], top_k: int = 5) -> Bucket:
    """One bucket holding several consecutive ones (a multi-bucket current window)."""
    scored = sorted(
        ((score, item_id) for b in buckets for item_id, score in zip(b.top_negative, b.top_negativity or (0.0,) * len(b.top_negative))),
        key=lambda e: (-e[0], e[1]),
    )[:top_k]
    return Bucket(
        buckets[0].start,
        sum(b.total for b in buckets),
        sum(b.negative for b in buckets),
        tuple(item_id for _, item_id in scored),
        tuple(score for score, _ in scored),
        sum(b.volume for b in buckets),
    )


@dataclass(frozen=True)
class TopicSeries:
    """Dense, gap-free buckets of one topic (empty buckets included: silence is data)."""

    topic: str
    size: timedelta
    buckets: list[Bucket]
    too_coarse: int = 0  # items left out because their time precision is wider than a bucket


def bucket_start(moment: datetime, size: timedelta) -> datetime:
    """Start of the bucket holding ``moment``; buckets are aligned to the Unix epoch in UTC
    (daily buckets start at 00:00 UTC), so every process cuts the same windows."""
    return EPOCH + ((moment - EPOCH) // size) * size


def bucketise(
    items: Iterable[ScoredItem],
    size: timedelta,
    start: datetime | None = None,
    end: datetime | None = None,
    top_k: int = 5,
) -> dict[str, TopicSeries]:
    """Per-topic series of buckets of ``size`` covering ``[start, end)`` (default: the items' span).

    Items whose precision is coarser than ``size`` (day-precision items in hourly buckets)
    are counted in ``too_coarse`` rather than piled into one arbitrary bucket.
    """
    if size <= timedelta(0):
        raise ValueError("bucket size must be positive")
    counts: dict[str, dict[datetime, list]] = {}
    articles: dict[datetime, set] = {}  # an article in two topics is one article of the news volume
    coarse: dict[str, int] = {}
    first = last = None
    for item in items:
        if PRECISION_SPAN.get(item.time_precision, timedelta(0)) > size:
            coarse[item.topic] = coarse.get(item.topic, 0) + 1
            continue
        at = item.published_at
        if (start is not None and at < start) or (end is not None and at >= end):
            continue
        key = bucket_start(at, size)
        first = key if first is None or key < first else first
        last = key if last is None or key > last else last
        articles.setdefault(key, set()).add(item.item_id)
        slot = counts.setdefault(item.topic, {}).setdefault(key, [0, 0, []])
        slot[0] += 1
        if item.negative:
            slot[1] += 1
            heap = slot[2]
            entry = (item.negativity, item.item_id)
            if len(heap) < top_k:
                heapq.heappush(heap, entry)
            elif top_k:
                heapq.heappushpop(heap, entry)
    lo = bucket_start(start, size) if start is not None else first
    hi = bucket_start(end - timedelta.resolution, size) if end is not None else last
    series = {}
    for topic in sorted(set(counts) | set(coarse)):
        by_start = counts.get(topic, {})
        buckets = []
        moment = lo
        while lo is not None and moment <= hi:
            total, negative, heap = by_start.get(moment, (0, 0, []))
            ranked = sorted(heap, key=lambda e: (-e[0], e[1]))
            buckets.append(Bucket(moment, total, negative, tuple(i for _, i in ranked), tuple(s for s, _ in ranked),
                                  len(articles.get(moment, ()))))
            moment += size
        series[topic] = TopicSeries(topic, size, buckets, coarse.get(topic, 0))
    return series
