"""Alert channels: where fired / escalated / resolved alert events go, every attempt recorded.

Each channel sends one :class:`~finance_monitor.alerting.messages.Notice` and reports each try
through ``record`` (a :class:`shared.webhooks.Attempt`); :func:`dispatch` saves those as
``fm_deliveries`` rows and sends every event to every channel, so one failing channel never
stops the others::

    channels = build_channels(config["finance_monitor"]["channels"])   # channel_config.py
    for result in dispatch(book_events, channels, store, dashboard_url="https://troika.example/fm"):
        print(result.channel, result.event, result.delivered)

HTTP channels go through :func:`shared.webhooks.deliver` (its retries, backoff and
Retry-After); email (``email_channel.py``) has a small bounded retry of its own, because
smtplib has none.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol
from urllib.parse import urlsplit

from shared.storage import redact_url
from shared.webhooks import Attempt, deliver

from ..detect.alert_lifecycle import Alert, AlertEvent
from ..store import MonitorStore
from . import messages
from .email_channel import EmailChannel  # noqa: F401  (a channel like the others; built by channel_config)
from .messages import Notice

log = logging.getLogger(__name__)
alert_log = logging.getLogger("finance_monitor.alerts")

Record = Callable[[Attempt], None]


class Channel(Protocol):
    name: str

    def send(self, notice: Notice, record: Record) -> bool:
        """Deliver one notice, calling ``record`` once per attempt; True when delivered."""


def safe_target(url: str) -> str:
    """scheme://host:port of a URL: enough to say where, never the path or query that hold webhook tokens."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}/…"


def scrub(text: str | None, url: str) -> str | None:
    """``text`` without the URL's secret-bearing parts (urllib3's errors quote the request path)."""
    if not text:
        return text
    parts = urlsplit(url)
    for secret in (url, parts.path + (f"?{parts.query}" if parts.query else ""), parts.query, parts.password):
        if secret and len(secret) > 1:
            text = text.replace(secret, "***")
    return text


class _HideWebhookPaths(logging.Filter):
    """shared.webhooks logs a failed URL with only its password redacted; Slack-style URLs
    carry their token in the path. Until it logs a safe form itself, rewrite its records for
    the URLs our channels post to (the filter sits on that one logger only)."""

    def __init__(self):
        super().__init__()
        self.urls: dict[str, str] = {}

    def add(self, url: str) -> None:
        self.urls[redact_url(url)] = safe_target(url)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and a in self.urls for a in record.args):
            record.args = tuple(self.urls.get(a, a) if isinstance(a, str) else a for a in record.args)
        return True


_hide_webhook_paths = _HideWebhookPaths()
logging.getLogger("shared.webhooks").addFilter(_hide_webhook_paths)


# --- channels -----------------------------------------------------------------------


@dataclass
class LogChannel:
    """Writes the alert to the ``finance_monitor.alerts`` logger: the channel that always works."""

    name: str = "log"

    def send(self, notice: Notice, record: Record) -> bool:
        level = logging.INFO if notice.resolved else logging.WARNING
        alert_log.log(level, "%s: %s [alert %d, fingerprint %s]", messages.summary(notice), messages.description(notice),
                      notice.alert_id, notice.alert.fingerprint)
        record(Attempt(1, True))
        return True


@dataclass
class HttpChannel:
    """A JSON POST through shared.webhooks.deliver; subclasses say what the body is."""

    name: str
    url: str = field(repr=False)  # may carry a token (Slack-style URLs do)
    timeout: float = 5.0
    attempts: int = 3
    backoff: float = 1.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def __post_init__(self) -> None:
        _hide_webhook_paths.add(self.endpoint())

    def endpoint(self) -> str:
        return self.url

    def payload(self, notice: Notice):
        raise NotImplementedError

    def send(self, notice: Notice, record: Record) -> bool:
        url = self.endpoint()

        def scrubbed(attempt: Attempt) -> None:
            record(Attempt(attempt.attempt, attempt.ok, attempt.status_code, scrub(attempt.error, url),
                           attempt.retryable, attempt.retry_after))

        return deliver(url, self.payload(notice), record=scrubbed, attempts=self.attempts, backoff=self.backoff,
                       timeout=self.timeout, sleep=self.sleep)


# endsAt of a firing alert, in re-send intervals: Prometheus uses 4 (a few missed sends never resolve it).
RESEND_TTL_INTERVALS = 4


@dataclass
class AlertmanagerChannel(HttpChannel):
    """Pushes to Prometheus Alertmanager's API, so a team routes, groups and silences our alerts there.

    Alertmanager forgets an alert once its ``endsAt`` passes, so the monitor re-sends every firing
    alert on each detection pass (``resends``; see :func:`refresh`); ``firing_ttl`` is a few of those
    intervals. ``None`` until the monitor sets it from its ``detect_every``."""

    firing_ttl: timedelta | None = None
    resends: bool = field(default=True, init=False)  # wants firing alerts again and again, not once

    def use_interval(self, seconds: float) -> None:
        """Fit the firing horizon to the re-send interval, unless troika.toml set ``firing_ttl_hours``."""
        if self.firing_ttl is None:
            self.firing_ttl = timedelta(seconds=RESEND_TTL_INTERVALS * seconds)

    def endpoint(self) -> str:
        return self.url.rstrip("/") + "/api/v2/alerts"

    def payload(self, notice: Notice):
        return messages.alertmanager_alerts(notice, firing_ttl=self.firing_ttl or timedelta(seconds=RESEND_TTL_INTERVALS * 300))


@dataclass
class WebhookChannel(HttpChannel):
    """Alertmanager's webhook payload, for receivers written against Alertmanager."""

    receiver: str = "troika"

    def payload(self, notice: Notice):
        return messages.webhook_payload(notice, self.receiver)


@dataclass
class SlackChannel(HttpChannel):
    def payload(self, notice: Notice):
        return messages.slack_payload(notice)


# --- dispatch -----------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryResult:
    alert_id: int
    event: str
    channel: str
    delivered: bool


def dispatch(events: Iterable[AlertEvent], channels: Sequence[Channel], store: MonitorStore, *,
             dashboard_url: str | None = None, server_url: str | None = None) -> list[DeliveryResult]:
    """Send every event to every channel, recording each attempt; returns one result per (event, channel)."""
    results = []
    for event in events:
        alert_id = alert_id_for(store, event)
        notice = Notice(event, alert_id, headlines_for(store, event.alert.evidence), dashboard_url, server_url)
        for channel in channels:
            results.append(DeliveryResult(alert_id, event.kind, channel.name, _send_recorded(channel, notice, store)))
    return results


def resending(channels: Sequence[Channel]) -> list[Channel]:
    """The channels that want firing alerts re-sent until they resolve (Alertmanager's API)."""
    return [c for c in channels if getattr(c, "resends", False)]


def refresh(alerts: Iterable[Alert], at, channels: Sequence[Channel], store: MonitorStore, *,
            dashboard_url: str | None = None, server_url: str | None = None) -> list[DeliveryResult]:
    """Send the still-firing ``alerts`` again to the re-sending channels only, so Alertmanager keeps
    them (and one configured after they fired learns of them). Only failed tries are recorded, as
    event ``refresh``: a success every pass would bury the alert's real deliveries."""
    targets = resending(channels)
    results = []
    for alert in alerts if targets else ():
        alert_id = alert_id_for(store, AlertEvent("fired", at, alert))
        notice = Notice(AlertEvent("fired", at, alert), alert_id, headlines_for(store, alert.evidence), dashboard_url, server_url)
        for channel in targets:
            results.append(DeliveryResult(alert_id, "refresh", channel.name, _send_quiet(channel, notice, store)))
    return results


def _send_quiet(channel: Channel, notice: Notice, store: MonitorStore) -> bool:
    """One re-send; a failure is recorded (the last try's status and error), a success is not."""
    tries: list[Attempt] = []
    try:
        ok = channel.send(notice, tries.append)
    except Exception as exc:  # as in _send_recorded: one channel's bug must not stop the others
        log.exception("channel %s failed re-sending alert %d", channel.name, notice.alert_id)
        tries.append(Attempt(len(tries) + 1, False, error=f"unexpected {type(exc).__name__}: {exc}"[:500]))
        ok = False
    if not ok and tries:
        last = tries[-1]
        store.record_delivery(notice.alert_id, "refresh", channel.name, last.attempt, False,
                              status_code=last.status_code, error=last.error)
    return ok


def _send_recorded(channel: Channel, notice: Notice, store: MonitorStore) -> bool:
    tries = 0

    def record(attempt: Attempt) -> None:
        nonlocal tries
        tries = attempt.attempt
        store.record_delivery(notice.alert_id, notice.event.kind, channel.name, attempt.attempt, attempt.ok,
                              status_code=attempt.status_code, error=attempt.error)

    try:
        return channel.send(notice, record)
    except Exception as exc:  # a bug or odd failure in one channel must not cost the others their delivery
        log.exception("channel %s failed on alert %d", channel.name, notice.alert_id)
        store.record_delivery(notice.alert_id, notice.event.kind, channel.name, tries + 1, False,
                              error=f"unexpected {type(exc).__name__}: {exc}"[:500])
        return False


def alert_id_for(store: MonitorStore, event: AlertEvent) -> int:
    """The stored episode's id; saves the event's copy only when the episode is not stored yet,
    so an older copy never overwrites what the detection job saved since."""
    found = store.alert_id(event.alert.fingerprint, event.alert.started_at)
    return found if found is not None else store.save_alert(event.alert)


def headlines_for(store: MonitorStore, evidence: dict) -> list[str]:
    """Titles of the evidence's top negative articles, in the evidence's order (ids no longer stored are skipped)."""
    ids = [i for i in (evidence or {}).get("top_negative_ids", []) if isinstance(i, int)][: messages.MAX_HEADLINES]
    titles = store.titles(ids)
    return [titles[i] for i in ids if i in titles]
