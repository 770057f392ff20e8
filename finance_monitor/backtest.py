"""``troika finance replay``: the whole pipeline over a timestamped CSV in simulated time, no sleeping.

The stream (``published_at,time_precision,source,ticker,headline,description``, the format of
../shared/data/finance_news_stream) is normalised and deduplicated with the store's rules
(``ingest.Deduper``), every headline (+ description) is scored once in batches, topics are
assigned in batches, and the scored items go through ``detection.detect_windows``, the code of the
live detection job, with a fresh :class:`AlertBook`. Nothing is written to a database::

    settings = replay_settings(config.section("finance_monitor"), "stream.csv")   # what the server would run
    result = replay_stream("stream.csv", model=SentimentModel.load("var/models/sentiment-onnx"),
                           settings=settings.monitor, assigner=TopicAssigner(threshold=None))
    [a.to_dict() for a in result.alerts]     # topic, started_at, resolved_at, severity, evidence, ...

The settings come from the server's own ``load_settings``. A file the server polls as a replay source (the
demo stream when no ``sources`` are configured) gets exactly the server's settings, demo detector and hourly
buckets included, so the replay raises the alerts the server raises on it (at times shifted by the source's
shift, ``poll.replay_shift``). Any other file is an archive: the configured topics, rules and alert policy
without the demo's, and daily buckets unless the table sets ``bucket`` (most archive rows carry only a date).

With ``start`` (``--from``) the baseline still reads the buckets before it: only windows ending
after ``start`` are judged.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from shared.datafiles import RowReport
from shared.errors import DataError

from .detect.alert_lifecycle import Alert, AlertBook
from .detect.buckets import ScoredItem, bucket_start
from .detect.detection import detect_windows
from .ingest.articles import scoring_body, topic_text
from .ingest.normalise import Deduper, normalise
from .ingest.sources import read_stream
from .scoring.topics import GENERAL_TOPIC, TopicAssigner
from .settings import MonitorSettings, load_settings

BATCH = 512
EVIDENCE_HEADLINES = 5


@dataclass
class ReplayResult:
    alerts: list[Alert]
    rows: int = 0
    duplicates: int = 0
    articles: int = 0
    negative: int = 0
    too_coarse: int = 0
    seconds: float = 0.0
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    # Evidence ids are positions in the replayed, deduplicated stream; this maps them to their titles.
    headlines: dict = field(default_factory=dict)

    def alert_dicts(self) -> list[dict]:
        out = []
        for alert in self.alerts:
            data = alert.to_dict()
            ids = data["evidence"].get("top_negative_ids", [])
            data["evidence"] = {**data["evidence"], "top_negative_headlines": [self.headlines[i] for i in ids if i in self.headlines][:EVIDENCE_HEADLINES]}
            out.append(data)
        return out

    def summary(self) -> str:
        span = f" from {self.first.date()} to {self.last.date()}" if self.first and self.last else ""
        rate = self.articles / self.seconds if self.seconds else 0.0
        return (f"replayed {self.rows} rows{span}: {self.articles} articles ({self.duplicates} duplicates dropped, "
                f"{self.negative} negative), {len(self.alerts)} alert(s), in {self.seconds:.1f}s ({rate:.0f} articles/s)")


@dataclass(frozen=True)
class ReplaySettings:
    monitor: MonitorSettings
    live_source: str | None  # the replay source of the server that polls this file; None: an archive

    def describe(self) -> str:
        bucket = "daily" if self.monitor.bucket >= dt.timedelta(days=1) else "hourly"
        where = f"the live monitor's settings (source {self.live_source})" if self.live_source else "archive settings"
        return f"{where}, {bucket} buckets, rules {'+'.join(r.name for r in self.monitor.rules)}"


def replay_settings(section: Mapping | None, data: str | Path, *, admin_token: str = "", bucket: str | None = None,
                    base: Path | None = None) -> ReplaySettings:
    """The settings a replay of ``data`` detects with, from the ``[finance_monitor]`` table the server reads (see the
    module docstring); ``bucket`` ("hour" or "day", the --bucket option) overrides the table's."""
    table = dict(section or {})
    if bucket:
        table["bucket"] = bucket
    live = load_settings(table, base=base, admin_token=admin_token)
    polled = next((s.name for s in live.sources if s.kind == "replay" and _same_file(s.path, Path(data))), None)
    if polled:
        return ReplaySettings(live, polled)
    table.setdefault("bucket", "day")
    return ReplaySettings(load_settings(table, base=base, admin_token=admin_token, demo=False), None)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _batches(items: Sequence, size: int, desc: str, progress: bool):
    bar = tqdm(total=len(items), desc=desc, unit="article", disable=not progress)
    for i in range(0, len(items), size):
        chunk = items[i:i + size]
        yield chunk
        bar.update(len(chunk))
    bar.close()


def replay_stream(path: str | Path, *, model, settings: MonitorSettings, assigner: TopicAssigner,
                  start: dt.datetime | None = None, end: dt.datetime | None = None, progress: bool = True,
                  strict: bool = False, report: RowReport | None = None) -> ReplayResult:
    """Replay the stream at ``path``; its bad rows are skipped into ``report`` (or fatal with ``strict``)."""
    began = time.perf_counter()
    rules, size = settings.rules, settings.bucket
    depth = max(rule.depth for rule in rules)
    load_from = bucket_start(start, size) - depth * size if start else None
    raws = [r for r in read_stream(path, strict=strict, report=report)
            if (load_from is None or r.published_at >= load_from) and (end is None or r.published_at < end)]
    if not raws:
        raise DataError(f"{path}: no rows between {start or 'the start'} and {end or 'the end'}")
    deduper, kept = Deduper(), []
    for raw in raws:
        article = normalise(raw, fetched_at=raw.published_at)
        if deduper.add(article):
            kept.append(article)
    result = ReplayResult([], rows=len(raws), duplicates=len(raws) - len(kept), articles=len(kept),
                          first=max(kept[0].published_at, start) if start else kept[0].published_at, last=kept[-1].published_at)
    labels, negativity = [], []
    for chunk in _batches(kept, BATCH, "scoring", progress):
        for s in model.score_articles([a.title for a in chunk], [scoring_body(a.title, a.text) for a in chunk]):
            labels.append(s.label)
            negativity.append(s.probabilities["negative"])
    items: list[ScoredItem] = []
    offset = 0
    for chunk in _batches(kept, BATCH, "topics", progress):
        for j, found in enumerate(assigner.assign_many([topic_text(a.title, a.text) for a in chunk], [a.tickers for a in chunk])):
            i = offset + j
            article = kept[i]
            for assignment in found:
                items.append(ScoredItem(i, assignment.topic, article.published_at, labels[i] == "negative", negativity[i], article.time_precision))
        offset += len(chunk)
    result.negative = labels.count("negative")
    first = bucket_start(kept[0].published_at, size)
    last = bucket_start(kept[-1].published_at, size) + size
    if end is not None:
        last = min(last, bucket_start(end - dt.timedelta.resolution, size) + size)
    topics = [GENERAL_TOPIC] + [t.name for t in assigner.topics]
    episodes: list[Alert] = []
    detect_windows(items, topics, size, rules, AlertBook(settings.policy), start=first, end=last, since=start, episodes=episodes)
    result.alerts = sorted(episodes, key=lambda a: (a.started_at, a.topic, a.rule))
    wanted = {i for a in result.alerts for i in a.evidence.get("top_negative_ids", [])}
    result.headlines = {i: kept[i].title for i in wanted if isinstance(i, int) and i < len(kept)}
    result.seconds = time.perf_counter() - began
    return result
