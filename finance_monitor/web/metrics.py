"""The monitor's state for Prometheus (``/metrics``): articles by sentiment, firing alerts per topic,
job runs by outcome, each source's last good fetch."""

from __future__ import annotations

import logging

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .dashboard import DashboardData
from .schemas import SENTIMENTS

log = logging.getLogger(__name__)


class MonitorCollector:
    """The monitor's state for Prometheus, counted from the store at each scrape."""

    def __init__(self, data: DashboardData):
        self.data = data

    def collect(self):
        store = self.data.store
        up = GaugeMetricFamily("troika_finance_store_up", "1 when the monitor's store answered this scrape")
        try:
            sentiments = store.sentiment_counts()
            alerts = store.alert_counts()
            runs = store.job_run_counts()
            sources = store.source_states()
            topics = [t.name for t in self.data.topics()]
        except Exception:
            log.exception("metrics: the monitor's store did not answer")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield CounterMetricFamily("troika_finance_articles_ingested", "Articles stored (after deduplication)",
                                  value=sum(sentiments.values()))
        scored = GaugeMetricFamily("troika_finance_articles", "Articles by sentiment (unscored: waiting for the model)",
                                   labels=["sentiment"])
        for label in (*SENTIMENTS, None):
            scored.add_metric([label or "unscored"], sentiments.get(label, 0))
        yield scored
        firing = GaugeMetricFamily("troika_finance_alerts_firing", "Alerts firing now, per topic", labels=["topic"])
        for topic in sorted(set(topics) | {t for t, _ in alerts}):
            firing.add_metric([topic], alerts.get((topic, "firing"), 0))
        yield firing
        job_runs = CounterMetricFamily("troika_finance_job_runs", "Scheduler job runs recorded, by outcome (ok, error, missed)",
                                       labels=["job", "outcome"])
        for (job, outcome), n in sorted(runs.items()):
            job_runs.add_metric([job, outcome], n)
        yield job_runs
        last_ok = GaugeMetricFamily("troika_finance_source_last_ok_timestamp_seconds", "When each source was last fetched successfully",
                                    labels=["source"])
        for row in sources:
            if row.get("last_ok_at"):
                last_ok.add_metric([row["source"]], row["last_ok_at"].timestamp())
        yield last_ok
