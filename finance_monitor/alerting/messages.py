"""What an alert event says on each channel: one :class:`Notice`, rendered per format.

Rendering is pure (no I/O), so every payload shape is checked without a server::

    notice = Notice(event, alert_id=7, headlines=["Northbank shares slide"], dashboard_url="https://troika/fm")
    alertmanager_alerts(notice)        # POST body for Alertmanager's /api/v2/alerts
    webhook_payload(notice, "troika")  # Alertmanager's webhook format (version 4)
    slack_payload(notice)              # {"text": ..., "blocks": [...]}
    email_text(notice)                 # (subject, plain-text body)

Headlines are fetched text from the internet: untrusted. They are length-bounded here,
escaped for Slack's mrkdwn, and email headers never carry a line break.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ..detect.alert_lifecycle import AlertEvent

ALERTNAME = "TroikaNegativeNewsSpike"
SOURCE = "troika"
MAX_HEADLINES = 5
MAX_HEADLINE_CHARS = 200
# Alertmanager's own "no end" in its webhook payload (Go's zero time).
GO_ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class Notice:
    event: AlertEvent
    alert_id: int
    headlines: list[str] = field(default_factory=list)
    dashboard_url: str | None = None
    server_url: str | None = None  # the server's own dashboard URL: Alertmanager's generatorURL when no dashboard_url is set

    @property
    def alert(self):
        return self.event.alert

    @property
    def resolved(self) -> bool:
        return self.event.kind == "resolved"

    @property
    def link(self) -> str:
        """Where a reader sees this alert (the dashboard's alert page, when one is configured)."""
        return f"{self.dashboard_url.rstrip('/')}/alerts/{self.alert_id}" if self.dashboard_url else ""

    @property
    def generator_url(self) -> str:
        """Where Alertmanager's "source" link points: the alert's dashboard link, else the server's dashboard."""
        return self.link or self.server_url or ""


def rfc3339(moment: dt.datetime) -> str:
    """UTC, second precision, 'Z' suffix: what Alertmanager and most webhook consumers parse."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: alerts carry UTC times")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def clean_headlines(headlines) -> list[str]:
    out = []
    for h in list(headlines)[:MAX_HEADLINES]:
        text = " ".join(str(h).split())  # no line breaks or runs of blanks from scraped text
        out.append(text if len(text) <= MAX_HEADLINE_CHARS else text[: MAX_HEADLINE_CHARS - 1] + "…")
    return out


def labels(notice: Notice) -> dict[str, str]:
    alert = notice.alert
    return {"alertname": ALERTNAME, "topic": alert.topic, "rule": alert.rule, "severity": alert.severity,
            "fingerprint": alert.fingerprint, "source": SOURCE}


def summary(notice: Notice) -> str:
    alert = notice.alert
    if notice.resolved:
        return f"Resolved: negative news spike on {alert.topic}"
    verb = "escalated to" if notice.event.kind == "escalated" else "is"
    return f"Negative news spike on {alert.topic} ({verb} {alert.severity})"


def description(notice: Notice) -> str:
    """Counts, baseline and p-value of the strongest window: enough to judge without the dashboard."""
    ev = notice.alert.evidence or {}
    parts = []
    if "negative" in ev and "total" in ev:
        parts.append(f"{ev['negative']} of {ev['total']} articles negative ({ev.get('share', 0):.0%})"
                     f" in {ev.get('window_start', '?')} to {ev.get('window_end', '?')}")
    baseline = ev.get("baseline") or {}
    if baseline:
        parts.append("baseline " + ", ".join(f"{k} {v}" for k, v in sorted(baseline.items())))
    if "p_value" in ev:
        parts.append(f"p = {ev['p_value']:.2g}")
    parts.append(f"rule {notice.alert.rule}, {notice.alert.windows_fired} window(s) fired")
    return "; ".join(parts) + "."


def annotations(notice: Notice) -> dict[str, str]:
    notes = {"summary": summary(notice), "description": description(notice)}
    headlines = clean_headlines(notice.headlines)
    if headlines:
        notes["headlines"] = "\n".join(f"- {h}" for h in headlines)
    if notice.link:
        notes["dashboard"] = notice.link
    return notes


def alertmanager_alerts(notice: Notice, *, firing_ttl: dt.timedelta) -> list[dict]:
    """Body of ``POST /api/v2/alerts``.

    A firing alert gets ``endsAt`` = now + ``firing_ttl``: Alertmanager resolves an alert whose
    end passed unless it is pushed again. Like Prometheus, the monitor re-sends every firing
    alert on each detection pass (``channels.refresh``), so ``firing_ttl`` is a few of those
    intervals: an alert troika stops sending (process gone) ends on its own soon after; a
    resolution sets the real end.
    """
    alert = notice.alert
    if notice.resolved:
        ends = alert.resolved_at or notice.event.at
    else:
        ends = max(notice.event.at, dt.datetime.now(dt.UTC)) + firing_ttl
    body = {"labels": labels(notice), "annotations": annotations(notice), "startsAt": rfc3339(alert.started_at),
            "endsAt": rfc3339(max(ends, alert.started_at))}
    if notice.generator_url:
        body["generatorURL"] = notice.generator_url
    return [body]


def webhook_payload(notice: Notice, receiver: str, *, external_url: str = "") -> dict:
    """Alertmanager's webhook format (version 4), so receivers written for Alertmanager read ours."""
    alert = notice.alert
    status = "resolved" if notice.resolved else "firing"
    alert_labels, notes = labels(notice), annotations(notice)
    return {
        "version": "4",
        "groupKey": f'{{}}:{{fingerprint="{alert.fingerprint}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": {"fingerprint": alert.fingerprint},
        "commonLabels": alert_labels,
        "commonAnnotations": notes,
        "externalURL": external_url or notice.dashboard_url or "",
        "alerts": [{
            "status": status,
            "labels": alert_labels,
            "annotations": notes,
            "startsAt": rfc3339(alert.started_at),
            "endsAt": rfc3339(alert.resolved_at or notice.event.at) if notice.resolved else GO_ZERO_TIME,
            "generatorURL": notice.link,
            "fingerprint": alert.fingerprint,
        }],
    }


def slack_escape(text: str) -> str:
    # The three characters Slack's mrkdwn treats as control characters (links, mentions).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(notice: Notice) -> dict:
    text = summary(notice)
    lines = [f"*{slack_escape(text)}*", slack_escape(description(notice))]
    lines += [f"• {slack_escape(h)}" for h in clean_headlines(notice.headlines)]
    if notice.link:
        lines.append(f"<{notice.link}|Open in the dashboard>")
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}}]}


def email_text(notice: Notice) -> tuple[str, str]:
    """(subject, plain-text body). The subject is one line whatever the topic name holds."""
    subject = " ".join(f"[troika] {summary(notice)}".split())[:200]
    alert = notice.alert
    lines = [summary(notice), "", description(notice), "",
             f"Topic: {alert.topic}", f"Rule: {alert.rule}", f"Severity: {alert.severity}",
             f"Started: {rfc3339(alert.started_at)}"]
    if notice.resolved:
        lines.append(f"Resolved: {rfc3339(alert.resolved_at or notice.event.at)}")
    lines.append(f"Fingerprint: {alert.fingerprint}")
    headlines = clean_headlines(notice.headlines)
    if headlines:
        lines += ["", "Top negative headlines:"] + [f"- {h}" for h in headlines]
    if notice.link:
        lines += ["", notice.link]
    return subject, "\n".join(lines) + "\n"
