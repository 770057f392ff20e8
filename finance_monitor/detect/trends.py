"""Per-topic trends: volume, negative count and share, and mean sentiment score per time bucket.

Plain Python over the rows ``MonitorStore.scored_by_topic(since, until)`` returns
(topic, published_at, sentiment, score); ``buckets.bucketise`` does the counting, so the
dashboard's charts cut exactly the windows the spike detectors test::

    rows = store.scored_by_topic(since, until)
    series = trends(rows, timedelta(days=1), start=since, end=until, topics=["banks", "energy"])
    series["banks"].points[-1]          # TrendPoint(start, volume=12, negative=5, negative_share=0.4167, mean_score=-0.21)

Buckets are dense (a quiet bucket is a point with volume 0 and ``mean_score`` None) and
aligned to the Unix epoch in UTC. A row may carry a fifth element, its time precision; rows
coarser than the bucket (day-precision news in hourly buckets) are counted in
``too_coarse`` instead of being piled into one bucket.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .buckets import PRECISION_SPAN, ScoredItem, bucket_start, bucketise

NEGATIVE = "negative"


@dataclass(frozen=True)
class TrendPoint:
    start: datetime
    volume: int
    negative: int
    negative_share: float  # negative / volume; 0.0 for an empty bucket
    mean_score: float | None  # mean of P(positive) - P(negative); None for an empty bucket

    def to_dict(self) -> dict:
        return {"start": self.start.isoformat(), "volume": self.volume, "negative": self.negative,
                "negative_share": self.negative_share, "mean_score": self.mean_score}


@dataclass(frozen=True)
class Trend:
    topic: str
    bucket: timedelta
    points: list[TrendPoint]
    too_coarse: int = 0  # rows left out: their time precision is wider than a bucket

    @property
    def volume(self) -> int:
        return sum(p.volume for p in self.points)

    @property
    def negative(self) -> int:
        return sum(p.negative for p in self.points)


def window(size: timedelta, buckets: int, until: datetime) -> tuple[datetime, datetime]:
    """``[since, end)`` covering the ``buckets`` whole buckets that end with the one holding ``until``."""
    if size <= timedelta(0) or buckets < 1:
        raise ValueError("bucket size must be positive and buckets at least 1")
    end = bucket_start(until, size) + size
    return end - buckets * size, end


def trends(rows: Iterable[Sequence], size: timedelta, *, start: datetime, end: datetime,
           topics: Iterable[str] = ()) -> dict[str, Trend]:
    """One dense :class:`Trend` per topic over ``[start, end)``: every topic named in ``topics``
    (all zeros when it had no news) and every topic found in ``rows``, sorted by name."""
    if size <= timedelta(0):
        raise ValueError("bucket size must be positive")
    if end <= start:
        raise ValueError("end must be after start")
    items, scores = [], {}
    for index, row in enumerate(rows):
        topic, published_at, sentiment, score = row[:4]
        precision = row[4] if len(row) > 4 else "minute"
        negative = sentiment == NEGATIVE
        items.append(ScoredItem(str(index), topic, published_at, negative, 0.0, precision))
        if start <= published_at < end and score is not None and PRECISION_SPAN.get(precision, timedelta(0)) <= size:
            key = (topic, bucket_start(published_at, size))
            total, count = scores.get(key, (0.0, 0))
            scores[key] = (total + float(score), count + 1)
    series = bucketise(items, size, start=start, end=end, top_k=0)
    first, last = bucket_start(start, size), bucket_start(end - timedelta.resolution, size)
    starts = [first + i * size for i in range((last - first) // size + 1)]
    out = {}
    for topic in sorted(set(topics) | set(series)):
        found = series.get(topic)
        by_start = {b.start: b for b in found.buckets} if found else {}
        points = []
        for moment in starts:
            bucket = by_start.get(moment)
            volume, negative = (bucket.total, bucket.negative) if bucket else (0, 0)
            total, count = scores.get((topic, moment), (0.0, 0))
            points.append(TrendPoint(moment, volume, negative, round(negative / volume, 4) if volume else 0.0,
                                     round(total / count, 4) if count else None))
        out[topic] = Trend(topic, size, points, found.too_coarse if found else 0)
    return out


def topic_trends(store, size: timedelta, *, start: datetime, end: datetime, topics: Iterable[str] = ()) -> dict[str, Trend]:
    """:func:`trends` over the store's scored articles in ``[start, end)``, with their time precision."""
    rows = store.trend_rows(start, end) if hasattr(store, "trend_rows") else store.scored_by_topic(start, end)
    return trends(rows, size, start=start, end=end, topics=topics)
