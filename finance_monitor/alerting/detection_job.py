"""The scheduler's detection job: one pass over the complete buckets since the last one.

Each bucket is tested against its rolling baseline (``detection.detect_windows``, the code the
replay uses too) and fed to the :class:`~finance_monitor.detect.alert_lifecycle.AlertBook`, whose state
lives in ``fm_state``; alerts are saved (``fm_alerts``) and their events sent to the channels
(``fm_deliveries``), except those of an alert a person silenced on the dashboard
(``silenced_until`` still ahead). Only complete buckets are tested: an hour is judged once it is over::

    job = DetectionJob(store, topic_names, bucket, rules, policy, channels, dashboard_url, server_url)
    job.run(now)     # {"windows": 240, "fired": 2, "escalated": 0, "resolved": 0, "firing": 2, "silenced": 0}
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from ..detect.alert_lifecycle import Alert, AlertBook, AlertEvent, AlertPolicy
from ..detect.buckets import bucket_start
from ..detect.detection import Rule, detect_windows, rules_key
from ..store import MonitorStore
from .channels import Channel, alert_id_for, dispatch, refresh

BOOK_STATE = "alert_book"
FIRST_LOOKBACK = 48  # buckets a first detection pass looks back over
MAX_CATCHUP = 7 * 24  # buckets a pass catches up after downtime; older windows are not re-judged
EVIDENCE_HEADLINES = 5


@dataclasses.dataclass
class DetectionJob:
    store: MonitorStore
    topic_names: Sequence[str]
    bucket: dt.timedelta
    rules: Sequence[Rule]
    policy: AlertPolicy
    channels: Sequence[Channel]
    dashboard_url: str | None
    server_url: str

    def run(self, now: dt.datetime) -> dict:
        size = self.bucket
        end = bucket_start(now, size)
        key = rules_key(self.rules)
        saved = self.store.load_state(BOOK_STATE, {}) or {}
        same_rule = saved.get("rule") == key
        book = AlertBook.from_dict(saved.get("book", {}), self.policy) if same_rule else AlertBook(self.policy)
        last = dt.datetime.fromisoformat(saved["last_window_end"]) if same_rule and saved.get("last_window_end") else None
        since = max(last, end - MAX_CATCHUP * size) if last else end - FIRST_LOOKBACK * size
        if since >= end:
            self._refresh(book.firing(), set(), now)
            return {"windows": 0, "fired": 0, "resolved": 0, "firing": len(book.firing())}
        start = since - max(rule.depth for rule in self.rules) * size
        events = detect_windows(self.store.scored_items(start, end), list(self.topic_names), size, self.rules, book,
                                start=start, end=end, since=since)
        changed = {e.alert.fingerprint for e in events} | {a.fingerprint for a in book.firing()}
        alerts = [book.current(fp) for fp in sorted(changed)]
        self._add_headlines(alerts)
        for alert in alerts:
            self.store.save_alert(alert)
        loud = [e for e in events if not self.store.is_silenced(alert_id_for(self.store, e), now)]  # a person silenced it
        if loud:
            dispatch([_fresh(e, book) for e in loud], self.channels, self.store, dashboard_url=self.dashboard_url,
                     server_url=self.server_url)
        self._refresh(book.firing(), {e.alert.fingerprint for e in loud if e.kind != "resolved"}, now)
        self.store.save_state(BOOK_STATE, {"rule": key, "book": book.to_dict(), "last_window_end": end.isoformat()})
        windows = int((end - since) / size) * len(self.topic_names)
        counts = {k: sum(e.kind == k for e in events) for k in ("fired", "escalated", "resolved")}
        return {"windows": windows, **counts, "firing": len(book.firing()), "silenced": len(events) - len(loud)}

    def _refresh(self, firing: list[Alert], just_sent: set[str], now: dt.datetime) -> None:
        """Re-send what still fires to Alertmanager-style channels (Prometheus does the same each
        evaluation), except what this pass already sent and what a person silenced."""
        again = [a for a in firing if a.fingerprint not in just_sent and not self.store.is_silenced(
            alert_id_for(self.store, AlertEvent("fired", now, a)), now)]
        if again:
            refresh(again, now, self.channels, self.store, dashboard_url=self.dashboard_url, server_url=self.server_url)

    def _add_headlines(self, alerts: list[Alert]) -> None:
        ids = {i for a in alerts for i in a.evidence.get("top_negative_ids", []) if isinstance(i, int)}
        if not ids:
            return
        titles = self.store.titles(ids)
        for alert in alerts:
            found = [titles[i] for i in alert.evidence.get("top_negative_ids", []) if i in titles]
            alert.evidence = {**alert.evidence, "top_negative_headlines": found[:EVIDENCE_HEADLINES]}


def _fresh(event: AlertEvent, book: AlertBook) -> AlertEvent:
    # The event's copy carries the evidence as of its window; give it the headlines added since.
    current = book.current(event.alert.fingerprint)
    alert = dataclasses.replace(event.alert, evidence=current.evidence) if current and current.started_at == event.alert.started_at else event.alert
    return dataclasses.replace(event, alert=alert)
