"""One detection pass: scored items → per-topic buckets → spike test per window → alert events.

The live detection job (``pipeline.Monitor.detect``) and the backtest (``troika finance replay``)
both call :func:`detect_windows`, so a replayed alert is the alert the live monitor would raise::

    items = [ScoredItem("12", "banks", published_at, negative=True, negativity=0.93), ...]
    rules = [Rule.of(NegativeVolumeDetector()), Rule.of(NegativeVolumeDetector(window_buckets=7, baseline_buckets=56))]
    events = detect_windows(items, ["banks", "general-market"], timedelta(days=1), rules, book,
                            start=load_from, end=now_bucket_start, since=last_window_end)

Every named topic gets a dense series over ``[start, end)`` even when it had no items, so a
quiet topic's firing alert sees its quiet windows and resolves. Each rule (a named detector)
keeps its own alerts: its name is part of their fingerprint, so a one-day burst and a week-long
slide on the same topic are two alerts, each with its own lifecycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .alert_lifecycle import Alert, AlertBook, AlertEvent
from .buckets import Bucket, ScoredItem, TopicSeries, bucket_start, bucketise
from .spikes import evaluate


def rule_name(detector) -> str:
    """The rule part of an alert's fingerprint: the detector and the knobs that change what it fires on."""
    name = detector.name
    window = getattr(detector, "window_buckets", 1)
    return f"{name}/w{window}" if window != 1 else name


@dataclass(frozen=True)
class Rule:
    """A detector with the name its alerts carry (the rule part of their fingerprint)."""

    name: str
    detector: object

    @classmethod
    def of(cls, detector, name: str | None = None) -> Rule:
        return cls(name or rule_name(detector), detector)

    @property
    def depth(self) -> int:
        """Buckets a window needs behind it: the baseline and the window itself."""
        return getattr(self.detector, "baseline_buckets", 28) + getattr(self.detector, "window_buckets", 1)


def rules_key(rules: Sequence[Rule]) -> str:
    """One string naming a set of rules: a saved alert book is reused only for the same set."""
    return "+".join(rule.name for rule in rules)


def series_for(items: Iterable[ScoredItem], topics: Sequence[str], size: timedelta, start: datetime, end: datetime) -> dict[str, TopicSeries]:
    """Dense buckets of ``size`` over ``[start, end)`` for every topic in ``topics`` (and any other topic items name)."""
    series = bucketise(items, size, start=start, end=end)
    first, last = bucket_start(start, size), bucket_start(end - timedelta.resolution, size)
    count = int((last - first) / size) + 1 if end > start else 0
    grid = next(iter(series.values())).buckets if series else []  # every series shares the grid and its news volume
    for topic in topics:
        if topic not in series:
            series[topic] = TopicSeries(topic, size, [Bucket(first + i * size, volume=grid[i].volume if grid else 0) for i in range(count)])
    return series


def detect_windows(items: Iterable[ScoredItem], topics: Sequence[str], size: timedelta, rules: Sequence[Rule], book: AlertBook, *,
                   start: datetime, end: datetime, since: datetime | None = None,
                   episodes: list[Alert] | None = None) -> list[AlertEvent]:
    """Feed ``book`` every window ending in ``(since, end]`` (every window when ``since`` is None), rule by rule and
    topic by topic in time order; returns the alert events it raised. ``start`` should lie the deepest rule's
    ``depth`` buckets before ``since`` so the first windows have their baseline. ``episodes`` (the backtest's view)
    gets each alert the pass opens as the book's live object, so its later updates (resolution, stronger evidence) show."""
    events: list[AlertEvent] = []
    series = sorted(series_for(items, topics, size, start, end).items())
    for rule in rules:
        for _topic, topic_series in series:
            for window, detection in evaluate(topic_series, rule.detector, since=since):
                raised = book.observe(window, detection, rule.name)
                if episodes is not None:
                    episodes.extend(book.current(e.alert.fingerprint) for e in raised if e.kind == "fired")
                events.extend(raised)
    return sorted(events, key=lambda e: (e.at, e.alert.topic, e.alert.rule))
