"""The monitor's data as the dashboard shows it: trends per topic, articles, alerts with their headlines, jobs;
and the admin actions (acknowledge, silence, correct, run a job now). Pages and JSON API both read it.

``monitor`` is any object with ``store`` (MonitorStore), ``topics`` (list of Topic), ``bucket`` (timedelta)
and ``scheduler`` (MonitorScheduler or None)::

    data = DashboardData(monitor)
    data.topics_out()                 # TopicsOut as JSON: every topic's totals and newest bucket
    data.acknowledge(7, "ana")        # AlertOut as JSON; NotFoundError when there is no alert 7

The blueprint serves one per app (``shared.web.serve`` under :data:`KEY`); views reach it with :func:`dashboard`.
"""

from __future__ import annotations

import datetime as dt
import logging

from shared.errors import ConflictError, NotFoundError
from shared.web import served

from ..detect.trends import Trend, topic_trends, window
from ..scoring.topics import GENERAL_TOPIC, Topic
from .schemas import AlertOut, ArticleOut, CorrectionOut, HeadlineOut, JobsOut, JobsQuery, TopicOut, TopicsOut, TrendOut, TrendQuery

log = logging.getLogger(__name__)
KEY = "finance_monitor"  # app.extensions[KEY]: what shared.web.serve keeps for the dashboard's views

# How many buckets a chart shows by default: a month of days, two days of hours.
DEFAULT_BUCKETS = {dt.timedelta(days=1): 30, dt.timedelta(hours=1): 48}
BUCKETS = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1)}


def bucket_name(size: dt.timedelta) -> str:
    return {v: k for k, v in BUCKETS.items()}.get(size, f"{int(size.total_seconds())}s")


class DashboardData:
    """What pages and API share: the monitor's data shaped once."""

    def __init__(self, monitor):
        self.monitor = monitor

    @property
    def store(self):
        return self.monitor.store

    def now(self) -> dt.datetime:
        return self.store.clock()

    def topics(self) -> list[Topic]:
        topics = list(self.monitor.topics or [])
        if GENERAL_TOPIC not in {t.name for t in topics}:
            topics.append(Topic(GENERAL_TOPIC, "All market news: every article counts here."))
        return topics

    def topic(self, name: str) -> Topic:
        for topic in self.topics():
            if topic.name == name:
                return topic
        raise NotFoundError(f"no topic {name!r}; the topics are {', '.join(t.name for t in self.topics())}")

    def span(self, query: TrendQuery | None = None) -> tuple[dt.timedelta, dt.datetime, dt.datetime]:
        size = BUCKETS[query.bucket] if query and query.bucket else self.monitor.bucket
        count = (query.buckets if query else None) or DEFAULT_BUCKETS.get(size, 48)
        since, until = window(size, count, (query.until if query else None) or self.now())
        return size, since, until

    def trends(self, query: TrendQuery | None = None, names=None) -> tuple[dt.timedelta, dt.datetime, dt.datetime, dict[str, Trend]]:
        size, since, until = self.span(query)
        names = [t.name for t in self.topics()] if names is None else names
        found = topic_trends(self.store, size, start=since, end=until, topics=names)
        return size, since, until, {name: found[name] for name in names}

    def firing_by_topic(self) -> dict[str, int]:
        return {topic: n for (topic, state), n in self.store.alert_counts().items() if state == "firing"}

    def topics_out(self, query: TrendQuery | None = None) -> dict:
        size, since, until, trends = self.trends(query)
        firing = self.firing_by_topic()
        out = []
        for topic in self.topics():
            trend = trends[topic.name]
            volume, negative = trend.volume, trend.negative
            out.append(TopicOut(name=topic.name, description=topic.description, keywords=list(topic.keywords),
                                tickers=list(topic.tickers), volume=volume, negative=negative,
                                negative_share=round(negative / volume, 4) if volume else 0.0,
                                firing_alerts=firing.get(topic.name, 0),
                                latest=trend.points[-1].to_dict() if trend.points else None))
        return TopicsOut(bucket=bucket_name(size), bucket_seconds=int(size.total_seconds()), since=since, until=until,
                         topics=out).model_dump(mode="json")

    def trend_out(self, name: str, query: TrendQuery) -> dict:
        self.topic(name)
        size, since, until, trends = self.trends(query, names=[name])
        trend = trends[name]
        return TrendOut(topic=name, bucket=bucket_name(size), bucket_seconds=int(size.total_seconds()), since=since, until=until,
                        too_coarse=trend.too_coarse, points=[p.to_dict() for p in trend.points]).model_dump(mode="json")

    def articles(self, **filters) -> list[dict]:
        rows = self.store.articles(**filters)
        return [ArticleOut.model_validate(r).model_dump(mode="json") for r in rows]

    def alerts(self, **filters) -> list[dict]:
        rows = self.store.alerts(**filters)
        ids = [i for r in rows for i in (r["evidence"] or {}).get("top_negative_ids", [])]
        found = {a["id"]: a for a in self.store.articles_by_id(ids)}
        return [self.alert_out(r, found) for r in rows]

    def alert_out(self, row: dict, articles: dict | None = None) -> dict:
        evidence = row["evidence"] or {}
        if articles is None:
            articles = {a["id"]: a for a in self.store.articles_by_id(evidence.get("top_negative_ids", []))}
        headlines = [HeadlineOut.model_validate(articles[i]) for i in evidence.get("top_negative_ids", []) if i in articles]
        silenced = bool(row.get("silenced_until") and row["silenced_until"] > self.now())
        return AlertOut.model_validate({**row, "evidence": evidence, "silenced": silenced, "headlines": headlines}).model_dump(mode="json")

    def jobs_out(self, query: JobsQuery) -> dict:
        scheduler = self.monitor.scheduler
        running = bool(scheduler is not None and getattr(scheduler, "running", False))
        jobs = scheduler.jobs() if running else []
        runs = self.store.job_runs(job_id=query.job, outcome=query.outcome, limit=query.limit)
        return JobsOut(scheduler_running=running, jobs=jobs, runs=runs,
                       errors=sum(r["outcome"] == "error" for r in runs), missed=sum(r["outcome"] == "missed" for r in runs),
                       sources=self.store.source_states()).model_dump(mode="json")

    def acknowledge(self, alert_id: int, by: str) -> dict:
        row = self.store.acknowledge_alert(alert_id, by)
        if row is None:
            raise NotFoundError(f"no alert {alert_id}")
        log.info("alert %s (%s) acknowledged by %s", alert_id, row["topic"], by)
        return self.alert_out(row)

    def silence(self, alert_id: int, minutes: int, by: str) -> dict:
        until = self.now() + dt.timedelta(minutes=minutes) if minutes else None
        row = self.store.silence_alert(alert_id, until, by)
        if row is None:
            raise NotFoundError(f"no alert {alert_id}")
        log.info("alert %s (%s) %s by %s", alert_id, row["topic"], f"silenced for {minutes} min" if minutes else "unsilenced", by)
        return self.alert_out(row)

    def correct(self, article_id: int, label: str, by: str) -> dict:
        row = self.store.correct_sentiment(article_id, label, by)
        if row is None:
            raise NotFoundError(f"no article {article_id}")
        log.info("article %s: sentiment corrected to %s by %s", article_id, label, by)
        return CorrectionOut.model_validate(row).model_dump(mode="json")

    def run_now(self, job_id: str) -> None:
        scheduler = self.monitor.scheduler
        if scheduler is None or not getattr(scheduler, "running", False):
            raise ConflictError("no scheduler runs in this server process; start the monitor with its scheduler to run jobs")
        if job_id not in {j["id"] for j in scheduler.jobs()}:
            raise NotFoundError(f"no job {job_id!r}")
        scheduler.run_now(job_id)
        log.info("job %s asked to run now", job_id)


def dashboard() -> DashboardData:
    """The DashboardData of the app handling this request."""
    return served(KEY).service
