"""Alert channels against real receivers on loopback: an HTTP receiver, aiosmtpd, and Debian's Alertmanager."""

import dataclasses
import datetime as dt
import json
import logging
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import urllib3

import finance_monitor
from finance_monitor.alerting import messages
from finance_monitor.alerting.channel_config import build_channels
from finance_monitor.alerting.channels import AlertmanagerChannel, EmailChannel, LogChannel, SlackChannel, WebhookChannel, dispatch, safe_target, scrub
from finance_monitor.alerting.messages import Notice
from finance_monitor.detect.alert_lifecycle import Alert, AlertEvent, fingerprint
from finance_monitor.ingest.articles import RawArticle
from finance_monitor.ingest.normalise import normalise
from finance_monitor.store import MonitorStore
from shared.errors import ConfigError
from shared.storage import migrate
from tests.web_fixtures import free_port

MIGRATIONS = Path(finance_monitor.__file__).parent / "migrations"
UTC = dt.UTC
NO_SLEEP = lambda _seconds: None  # noqa: E731 - retries without waiting: tests check counts, not clocks


def make_alert(*, topic="banks", severity="warning", started=None, resolved=None, top_ids=(), headline_topic=None):
    started = started or dt.datetime(2026, 5, 4, 9, tzinfo=UTC)
    return Alert(
        fingerprint=fingerprint(topic, "binomial_share"), topic=topic, rule="binomial_share", severity=severity,
        started_at=started, last_fired_at=started + dt.timedelta(hours=1),
        evidence={"window_start": started.isoformat(), "window_end": (started + dt.timedelta(hours=1)).isoformat(),
                  "negative": 14, "total": 20, "share": 0.7, "baseline": {"share": 0.12, "buckets": 28},
                  "p_value": 3e-7, "statistic": 5.8, "top_negative_ids": list(top_ids)},
        state="resolved" if resolved else "firing", resolved_at=resolved)


def fired(alert):
    return AlertEvent("fired", alert.last_fired_at, alert)


def resolved(alert, at):
    return AlertEvent("resolved", at, dataclasses.replace(alert, state="resolved", resolved_at=at))


@pytest.fixture
def store(db_engine):
    migrate(db_engine, MIGRATIONS, "finance_monitor_alembic_version")
    return MonitorStore(db_engine)


# --- payloads -----------------------------------------------------------------------


def test_alertmanager_body_has_labels_annotations_and_times():
    alert = make_alert()
    notice = Notice(fired(alert), 7, ["Northbank shares slide", "Regulator\nopens review"], "https://troika.example/fm/")
    (body,) = messages.alertmanager_alerts(notice, firing_ttl=dt.timedelta(hours=2))
    assert body["labels"] == {"alertname": "TroikaNegativeNewsSpike", "topic": "banks", "rule": "binomial_share",
                              "severity": "warning", "fingerprint": alert.fingerprint, "source": "troika"}
    assert body["startsAt"] == "2026-05-04T09:00:00Z" and body["generatorURL"] == "https://troika.example/fm/alerts/7"
    # A firing alert ends in the future (or Alertmanager resolves it by itself).
    assert dt.datetime.fromisoformat(body["endsAt"]) > dt.datetime.now(UTC) + dt.timedelta(minutes=110)
    assert "14 of 20 articles negative (70%)" in body["annotations"]["description"]
    assert "p = 3e-07" in body["annotations"]["description"]
    assert body["annotations"]["headlines"] == "- Northbank shares slide\n- Regulator opens review"
    end = dt.datetime(2026, 5, 4, 15, tzinfo=UTC)
    (gone,) = messages.alertmanager_alerts(Notice(resolved(alert, end), 7), firing_ttl=dt.timedelta(hours=2))
    assert gone["endsAt"] == "2026-05-04T15:00:00Z" and "generatorURL" not in gone


def test_webhook_payload_follows_alertmanagers_format():
    alert = make_alert()
    payload = messages.webhook_payload(Notice(fired(alert), 3), "risk-desk")
    assert payload["version"] == "4" and payload["status"] == "firing" and payload["receiver"] == "risk-desk"
    assert set(payload) == {"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels",
                            "commonAnnotations", "externalURL", "alerts"}
    (item,) = payload["alerts"]
    assert item["endsAt"] == "0001-01-01T00:00:00Z" and item["fingerprint"] == alert.fingerprint
    assert payload["commonLabels"]["alertname"] == "TroikaNegativeNewsSpike"
    done = messages.webhook_payload(Notice(resolved(alert, dt.datetime(2026, 5, 5, tzinfo=UTC)), 3), "risk-desk")
    assert done["status"] == "resolved" and done["alerts"][0]["endsAt"] == "2026-05-05T00:00:00Z"


def test_slack_text_escapes_scraped_headlines_and_email_subject_is_one_line():
    alert = make_alert(topic="banks\nBcc: victim@example.com")
    notice = Notice(fired(alert), 1, ["<!channel> & <https://evil.example|click>"])
    payload = messages.slack_payload(notice)
    section = payload["blocks"][0]["text"]["text"]
    assert payload["blocks"][0]["type"] == "section" and payload["text"].startswith("Negative news spike")
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in section and "<!channel>" not in section
    subject, body = messages.email_text(notice)
    assert "\n" not in subject and "Top negative headlines:" in body


# --- HTTP channels, recorded --------------------------------------------------------


def test_a_webhook_is_retried_until_delivered_and_every_attempt_recorded(store, webhook_receiver):
    receiver = webhook_receiver((503, {}), (200, {}))
    results = dispatch([fired(make_alert())], [WebhookChannel("hook", receiver.url, sleep=NO_SLEEP)], store)
    assert [(r.channel, r.event, r.delivered) for r in results] == [("hook", "fired", True)]
    rows = store.deliveries(results[0].alert_id)
    assert [(r["attempt"], r["ok"], r["status_code"]) for r in rows] == [(1, False, 503), (2, True, 200)]
    content_type, body = receiver.received[-1]
    assert content_type == "application/json" and body["version"] == "4"


def test_a_failing_channel_never_stops_the_others(store, webhook_receiver, caplog):
    slack = webhook_receiver((200, {}))
    dead = f"http://127.0.0.1:{free_port()}/services/T000/B000/s3cr3tT0ken"  # nothing listens there

    class Broken:
        name = "broken"

        def send(self, notice, record):
            raise RuntimeError("a bug in a channel")

    channels = [WebhookChannel("dead-hook", dead, attempts=2, timeout=1, sleep=NO_SLEEP), Broken(),
                SlackChannel("slack", slack.url, sleep=NO_SLEEP), LogChannel()]
    alert = make_alert()
    with caplog.at_level(logging.INFO):
        results = dispatch([fired(alert), resolved(alert, dt.datetime(2026, 5, 4, 18, tzinfo=UTC))], channels, store)
    assert [(r.channel, r.event, r.delivered) for r in results] == [
        ("dead-hook", "fired", False), ("broken", "fired", False), ("slack", "fired", True), ("log", "fired", True),
        ("dead-hook", "resolved", False), ("broken", "resolved", False), ("slack", "resolved", True), ("log", "resolved", True)]
    assert len({r.alert_id for r in results}) == 1  # both events belong to one stored episode
    rows = store.deliveries(results[0].alert_id)
    assert [(r["channel"], r["attempt"], r["ok"]) for r in rows if r["event"] == "fired"] == [
        ("dead-hook", 1, False), ("dead-hook", 2, False), ("broken", 1, False), ("slack", 1, True), ("log", 1, True)]
    failures = [r["error"] for r in rows if not r["ok"]]
    assert all(failures) and "unexpected RuntimeError: a bug in a channel" in failures
    assert safe_target(dead) in caplog.text and "s3cr3tT0ken" not in caplog.text  # failures logged without the token
    assert [body["text"] for _, body in slack.received] == ["Negative news spike on banks (is warning)",
                                                           "Resolved: negative news spike on banks"]
    assert "Negative news spike on banks" in caplog.text


def test_errors_that_quote_a_webhook_url_are_scrubbed_before_they_are_stored():
    url = "https://hooks.example:8443/services/T1/B2/s3cr3t?token=abc"
    error = "MaxRetryError: HTTPSConnectionPool(host='hooks.example', port=8443): Max retries exceeded with url: /services/T1/B2/s3cr3t?token=abc"
    assert scrub(error, url) == "MaxRetryError: HTTPSConnectionPool(host='hooks.example', port=8443): Max retries exceeded with url: ***"
    assert scrub(f"HTTP 404: no hook at {url}", url) == "HTTP 404: no hook at ***"
    assert safe_target(url) == "https://hooks.example:8443/…"


def test_headlines_come_from_the_stored_articles(store, webhook_receiver):
    at = dt.datetime(2026, 5, 4, 9, 30, tzinfo=UTC)
    raw = [RawArticle(source="wire", title=t, text="", guid=g, url=None, published_at=at, time_precision="minute", tickers=())
           for t, g in (("Northbank shares slide after profit warning", "a"), ("Regulator opens review of Northbank", "b"))]
    ids = store.add_articles([normalise(r, fetched_at=at) for r in raw]).new_ids
    receiver = webhook_receiver((200, {}))
    dispatch([fired(make_alert(top_ids=[ids[1], 999_999, ids[0]]))], [SlackChannel("slack", receiver.url)], store)
    text = receiver.received[0][1]["blocks"][0]["text"]["text"]
    assert text.index("Regulator opens review") < text.index("Northbank shares slide")


# --- email --------------------------------------------------------------------------


class Mailbox:
    """aiosmtpd handler: answers DATA from a script of SMTP replies, keeps the accepted messages."""

    def __init__(self, *script):
        self.script, self.messages = list(script), []

    async def handle_DATA(self, server, session, envelope):
        reply = self.script.pop(0) if self.script else "250 OK"
        if reply.startswith("250"):
            self.messages.append(envelope)
        return reply


@pytest.fixture
def smtp_server():
    pytest.importorskip("aiosmtpd")
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    started = []

    def start(handler, *, logins=None):
        def authenticate(server, session, envelope, mechanism, auth_data):
            ok = logins is not None and logins.get(auth_data.login.decode()) == auth_data.password.decode()
            return AuthResult(success=ok)

        kwargs = dict(authenticator=authenticate, auth_require_tls=False) if logins else {}
        controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **kwargs)
        controller.start()
        started.append(controller)
        return controller.port

    yield start
    for controller in started:
        controller.stop()


def test_email_is_sent_with_the_evidence_and_a_login_that_is_never_logged(store, smtp_server, caplog):
    mailbox = Mailbox()
    port = smtp_server(mailbox, logins={"alerts": "hunter2-secret"})
    channel, = build_channels([{"type": "email", "host": "127.0.0.1", "port": port, "username": "alerts",
                                "password_env": "SMTP_PW", "from": "troika <alerts@example.com>", "to": "desk@example.com"}],
                              environ={"SMTP_PW": "hunter2-secret"})
    with caplog.at_level(logging.DEBUG):
        results = dispatch([fired(make_alert())], [channel], store, dashboard_url="https://troika.example/fm")
    assert results[0].delivered
    (envelope,) = mailbox.messages
    assert envelope.mail_from == "alerts@example.com" and envelope.rcpt_tos == ["desk@example.com"]
    text = envelope.content.decode()
    assert "Subject: [troika] Negative news spike on banks (is warning)" in text
    assert "14 of 20 articles negative" in text and f"https://troika.example/fm/alerts/{results[0].alert_id}" in text
    assert "hunter2-secret" not in caplog.text and "hunter2-secret" not in repr(channel)


def test_email_retries_a_temporary_refusal_but_not_a_permanent_one(store, smtp_server):
    mailbox = Mailbox("451 4.3.0 try again later", "250 OK", "550 5.1.1 mailbox unavailable")
    port = smtp_server(mailbox)
    channel = EmailChannel("mail", "127.0.0.1", "alerts@example.com", ["desk@example.com"], port=port, timeout=5,
                           sleep=NO_SLEEP)
    first, second = make_alert(topic="banks"), make_alert(topic="oil")
    results = dispatch([fired(first), fired(second)], [channel], store)
    assert [r.delivered for r in results] == [True, False] and len(mailbox.messages) == 1
    retried = store.deliveries(results[0].alert_id)
    assert [(r["attempt"], r["ok"], r["status_code"]) for r in retried] == [(1, False, 451), (2, True, 250)]
    refused = store.deliveries(results[1].alert_id)
    assert [(r["attempt"], r["ok"], r["status_code"]) for r in refused] == [(1, False, 550)]
    assert "mailbox unavailable" in refused[0]["error"]


def test_email_to_a_dead_server_gives_up_after_its_attempts(store):
    channel = EmailChannel("mail", "127.0.0.1", "a@example.com", ["b@example.com"], port=free_port(), timeout=1,
                           attempts=2, sleep=NO_SLEEP)
    (result,) = dispatch([fired(make_alert())], [channel], store)
    assert not result.delivered
    assert [(r["attempt"], r["ok"]) for r in store.deliveries(result.alert_id)] == [(1, False), (2, False)]


# --- config -------------------------------------------------------------------------


def test_channels_are_built_from_config_tables():
    channels = build_channels([
        {"type": "alertmanager", "url": "http://127.0.0.1:9093", "firing_ttl_hours": 6},
        {"type": "webhook", "name": "ops-hook", "url": "https://hooks.example/x?token=abc", "receiver": "ops"},
        {"type": "slack", "url": "https://hooks.slack.example/services/T/B/C", "attempts": 5},
        {"type": "email", "host": "smtp.example.com", "starttls": True, "from": "a@example.com", "to": ["b@example.com"]},
        {"type": "log"},
    ])
    assert [c.name for c in channels] == ["alertmanager", "ops-hook", "slack", "email", "log"]
    assert channels[0].endpoint() == "http://127.0.0.1:9093/api/v2/alerts" and channels[0].firing_ttl == dt.timedelta(hours=6)
    assert channels[1].receiver == "ops" and channels[2].attempts == 5 and channels[3].port == 587
    assert "token=abc" not in repr(channels[1])
    assert [type(c) for c in build_channels(None)] == [LogChannel]


@pytest.mark.parametrize("tables, key", [
    ([{"type": "pager"}], "finance_monitor.channels[0].type"),
    ([{"url": "http://x"}], "finance_monitor.channels[0].type"),
    ([{"type": "log"}, {"type": "webhook"}], "finance_monitor.channels[1].url"),
    ([{"type": "slack", "url": "ftp://x/secret"}], "finance_monitor.channels[0].url"),
    ([{"type": "slack", "url": "http://x", "retries": 3}], "finance_monitor.channels[0].retries"),
    ([{"type": "slack", "url": "http://x", "attempts": True}], "finance_monitor.channels[0].attempts"),
    ([{"type": "log"}, {"type": "log"}], "finance_monitor.channels[1].name"),
    ([{"type": "email", "host": "h", "to": "b@example.com"}], "finance_monitor.channels[0].from"),
    ([{"type": "email", "host": "h", "from": "a@x", "to": "b@x", "password_env": "NOPE"}], "finance_monitor.channels[0].password_env"),
])
def test_a_bad_channel_table_is_a_config_error_naming_the_key(tables, key):
    with pytest.raises(ConfigError, match="^" + re.escape(key) + ": ") as caught:
        build_channels(tables, environ={})
    assert "secret" not in str(caught.value)


# --- Prometheus Alertmanager (Debian's binary, on loopback) --------------------------

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


@pytest.fixture
def alertmanager(tmp_path):
    if not ALERTMANAGER:
        pytest.skip("prometheus-alertmanager not found: install Debian's prometheus-alertmanager (.ci/run does)")
    config = tmp_path / "alertmanager.yml"
    config.write_text('route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n')
    port = free_port()
    log = open(tmp_path / "alertmanager.log", "wb")
    process = subprocess.Popen([ALERTMANAGER, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
                                f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    http = urllib3.PoolManager(retries=False, timeout=2)
    deadline = time.monotonic() + 15
    while True:
        try:
            if http.request("GET", url + "/-/ready").status == 200:
                break
        except urllib3.exceptions.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"alertmanager did not become ready: {(tmp_path / 'alertmanager.log').read_text()[-2000:]}")
        time.sleep(0.1)
    yield url, http
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def test_alerts_reach_a_real_alertmanager_and_resolve_there(store, alertmanager):
    url, http = alertmanager
    now = dt.datetime.now(UTC).replace(microsecond=0)
    alert = make_alert(started=now - dt.timedelta(hours=1), severity="critical")
    channel = AlertmanagerChannel("alertmanager", url, sleep=NO_SLEEP)

    def ours():
        listed = json.loads(http.request("GET", url + "/api/v2/alerts?filter=source%3D%22troika%22").data)
        return [a for a in listed if a["labels"].get("fingerprint") == alert.fingerprint]

    results = dispatch([fired(alert)], [channel], store, dashboard_url="https://troika.example/fm")
    assert results[0].delivered
    (active,) = ours()
    assert active["labels"] == {"alertname": "TroikaNegativeNewsSpike", "topic": "banks", "rule": "binomial_share",
                                "severity": "critical", "fingerprint": alert.fingerprint, "source": "troika"}
    assert active["status"]["state"] == "active" and active["generatorURL"].endswith(f"/alerts/{results[0].alert_id}")
    assert active["annotations"]["summary"] == "Negative news spike on banks (is critical)"
    assert dt.datetime.fromisoformat(active["startsAt"]) == now - dt.timedelta(hours=1)

    results = dispatch([resolved(alert, now)], [channel], store)
    assert results[0].delivered
    # Alertmanager's v2 list leaves out alerts whose end has passed: resolved there.
    assert ours() == []
    rows = store.deliveries(results[0].alert_id)
    assert [(r["event"], r["ok"], r["status_code"]) for r in rows] == [("fired", True, 200), ("resolved", True, 200)]


def test_a_refresh_reaches_a_real_alertmanager_with_a_short_end_and_only_resending_channels_get_it(store, alertmanager):
    from finance_monitor.alerting.channels import refresh

    url, http = alertmanager
    now = dt.datetime.now(UTC).replace(microsecond=0)
    alert = make_alert(started=now - dt.timedelta(hours=1), severity="critical")
    channel = AlertmanagerChannel("alertmanager", url, sleep=NO_SLEEP)
    channel.use_interval(60)
    log_channel = LogChannel()
    results = refresh([alert], now, [channel, log_channel], store, server_url="http://127.0.0.1:8000/finance/")
    assert [(r.channel, r.event, r.delivered) for r in results] == [("alertmanager", "refresh", True)]
    listed = json.loads(http.request("GET", url + "/api/v2/alerts?filter=source%3D%22troika%22").data)
    (active,) = [a for a in listed if a["labels"]["fingerprint"] == alert.fingerprint]
    assert active["generatorURL"] == "http://127.0.0.1:8000/finance/"
    assert dt.datetime.fromisoformat(active["endsAt"]) - now <= dt.timedelta(minutes=4, seconds=5)
    assert store.deliveries(results[0].alert_id) == []  # a successful re-send leaves no row


def test_a_failed_refresh_is_recorded_as_a_refresh_delivery(store):
    from finance_monitor.alerting.channels import refresh

    alert = make_alert(started=dt.datetime.now(UTC) - dt.timedelta(hours=1))
    down = AlertmanagerChannel("alertmanager", "http://127.0.0.1:9", attempts=1, timeout=1, sleep=NO_SLEEP)
    (result,) = refresh([alert], dt.datetime.now(UTC), [down], store)
    assert not result.delivered
    [row] = store.deliveries(result.alert_id)
    assert (row["event"], row["channel"], row["ok"]) == ("refresh", "alertmanager", False) and row["error"]
