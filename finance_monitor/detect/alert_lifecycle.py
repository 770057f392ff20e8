"""Alert state machine: detections in, alert events (fired / escalated / resolved) out.

One alert per fingerprint (topic + rule) at a time. Repeated firing windows update that
alert instead of opening new ones (deduplication); it resolves only after
``resolve_after`` quiet windows in a row (hysteresis, so one calm hour inside a bad day
does not flap it); once resolved, the same fingerprint cannot open a new alert until
``cooldown`` has passed (firings in that time are counted on the resolved alert as
``suppressed``). Severity only goes up while an alert fires.

Plain Python over plain data: the detection job persists :meth:`AlertBook.to_dict` and
rebuilds the book with :meth:`AlertBook.from_dict`, so restarts keep the lifecycle::

    book = AlertBook(AlertPolicy(cooldown=timedelta(hours=6)))
    for event in book.observe(window, detection):
        send(event)                                   # channels get fired/escalated/resolved
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from .spikes import SEVERITIES, Detection, Window, evidence

EVENT_KINDS = ("fired", "escalated", "resolved")


def fingerprint(topic: str, rule: str) -> str:
    """Stable id of 'this rule on this topic': the dedupe key here and in Alertmanager."""
    return hashlib.sha256(f"{topic}\x00{rule}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AlertPolicy:
    fire_after: int = 1  # firing windows in a row before an alert opens
    resolve_after: int = 2  # quiet windows in a row before it resolves
    cooldown: timedelta = timedelta(days=1)  # after a resolution, no new alert for the fingerprint

    def __post_init__(self) -> None:
        if self.fire_after < 1 or self.resolve_after < 1 or self.cooldown < timedelta(0):
            raise ValueError("fire_after and resolve_after must be at least 1, cooldown not negative")


@dataclass
class Alert:
    fingerprint: str
    topic: str
    rule: str
    severity: str
    started_at: datetime  # start of the first firing window
    last_fired_at: datetime  # end of the latest firing window
    evidence: dict  # of the strongest (lowest p) firing window
    state: str = "firing"
    resolved_at: datetime | None = None  # end of the window that resolved it
    windows_fired: int = 1
    suppressed: int = 0  # firings swallowed by the cooldown after resolution

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        for key in ("started_at", "last_fired_at", "resolved_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Alert:
        data = dict(data)
        for key in ("started_at", "last_fired_at", "resolved_at"):
            data[key] = datetime.fromisoformat(data[key]) if data.get(key) else None
        return cls(**data)


@dataclass(frozen=True)
class AlertEvent:
    kind: str  # one of EVENT_KINDS
    at: datetime
    alert: Alert  # a copy as of this event: later updates do not rewrite what was sent


@dataclass
class _Track:
    """Per-fingerprint counters between events."""

    pending: int = 0  # firing windows in a row, before an alert opens
    quiet: int = 0  # quiet windows in a row, while an alert fires
    first_pending_start: datetime | None = None
    alert: Alert | None = None  # the current or most recently resolved alert


class AlertBook:
    def __init__(self, policy: AlertPolicy = AlertPolicy()):
        self.policy = policy
        self._tracks: dict[str, _Track] = {}

    def current(self, key: str) -> Alert | None:
        """The live alert of a fingerprint (firing, or the last resolved one)."""
        track = self._tracks.get(key)
        return track.alert if track else None

    def firing(self) -> list[Alert]:
        return [t.alert for t in self._tracks.values() if t.alert and t.alert.state == "firing"]

    def observe(self, window: Window, detection: Detection, rule: str) -> list[AlertEvent]:
        """Feed one evaluated window (in time order per fingerprint); returns what changed."""
        key = fingerprint(window.topic, rule)
        track = self._tracks.setdefault(key, _Track())
        alert = track.alert
        if detection.fired:
            track.quiet = 0
            if alert and alert.state == "firing":
                return self._update(alert, window, detection)
            if alert and alert.resolved_at and window.end < alert.resolved_at + self.policy.cooldown:
                alert.suppressed += 1
                return []
            track.pending += 1
            if track.pending == 1:
                track.first_pending_start = window.start
            if track.pending < self.policy.fire_after:
                return []
            track.pending = 0
            track.alert = Alert(
                fingerprint=key,
                topic=window.topic,
                rule=rule,
                severity=detection.severity or SEVERITIES[0],
                started_at=track.first_pending_start or window.start,
                last_fired_at=window.end,
                evidence=evidence(window, detection),
                windows_fired=self.policy.fire_after,
            )
            return [AlertEvent("fired", window.end, dataclasses.replace(track.alert))]
        track.pending = 0
        if alert and alert.state == "firing":
            track.quiet += 1
            if track.quiet >= self.policy.resolve_after:
                track.quiet = 0
                alert.state, alert.resolved_at = "resolved", window.end
                return [AlertEvent("resolved", window.end, dataclasses.replace(alert))]
        return []

    def _update(self, alert: Alert, window: Window, detection: Detection) -> list[AlertEvent]:
        alert.windows_fired += 1
        alert.last_fired_at = window.end
        if detection.p_value < alert.evidence.get("p_value", 1.0):
            alert.evidence = evidence(window, detection)
        new = detection.severity or SEVERITIES[0]
        if SEVERITIES.index(new) > SEVERITIES.index(alert.severity):
            alert.severity = new
            return [AlertEvent("escalated", window.end, dataclasses.replace(alert))]
        return []

    def to_dict(self) -> dict:
        """JSON-safe state, enough to resume the lifecycle after a restart."""
        return {
            key: {
                "pending": t.pending,
                "quiet": t.quiet,
                "first_pending_start": t.first_pending_start.isoformat() if t.first_pending_start else None,
                "alert": t.alert.to_dict() if t.alert else None,
            }
            for key, t in self._tracks.items()
        }

    @classmethod
    def from_dict(cls, data: dict, policy: AlertPolicy = AlertPolicy()) -> AlertBook:
        book = cls(policy)
        for key, t in data.items():
            book._tracks[key] = _Track(
                pending=t["pending"],
                quiet=t["quiet"],
                first_pending_start=datetime.fromisoformat(t["first_pending_start"]) if t["first_pending_start"] else None,
                alert=Alert.from_dict(t["alert"]) if t["alert"] else None,
            )
        return book


def replay_alerts(windows_and_detections, rule: str, policy: AlertPolicy = AlertPolicy()) -> list[Alert]:
    """Every alert a sequence of (window, detection) raises, in order of firing: the
    backtest's view (alerts still firing at the end keep ``resolved_at=None``)."""
    book = AlertBook(policy)
    alerts: list[Alert] = []
    for window, detection in windows_and_detections:
        for event in book.observe(window, detection, rule):
            if event.kind == "fired":
                alerts.append(book.current(event.alert.fingerprint))  # live object: later updates show
    return sorted(alerts, key=lambda a: (a.started_at, a.topic))
