"""The monitor wired end to end: poll → stored, scored, topics; detection → alerts that fire and resolve."""

import datetime as dt

import pytest

from finance_monitor.alerting.detection_job import BOOK_STATE
from finance_monitor.detect.alert_lifecycle import AlertPolicy
from finance_monitor.ingest.demo_feed import demo_feed
from finance_monitor.pipeline import Monitor, SourceProblem
from finance_monitor.scoring.topics import GENERAL_TOPIC
from finance_monitor.settings import DEMO_DETECTOR, load_settings
from shared.errors import ConfigError
from tests.finance_monitor.local_http import QuietHandler, serve
from tests.finance_monitor.monitor_helpers import UTC, Clock, demo_scorer, make_monitor

NOW = dt.datetime(2026, 5, 4, 12, 30, tzinfo=UTC)
QUIET = {"topic_threshold": False}


def feed_server(body: bytes, etag: str = '"v1"'):
    """A loopback server answering every GET with ``body`` (304 when the client already has ``etag``)."""

    class Feed(QuietHandler):
        def do_GET(self):
            if etag and self.headers.get("If-None-Match") == etag:
                self.send(304)
            else:
                self.send(200, body, [("Content-Type", "application/rss+xml")] + ([("ETag", etag)] if etag else []))

    return serve(Feed)


# ---- settings --------------------------------------------------------------------------------


def test_no_sources_means_the_demo_with_the_default_topics_and_a_general_market_topic():
    settings = load_settings({})
    assert settings.demo and [s.name for s in settings.sources] == ["demo"] and settings.sources[0].kind == "replay"
    assert {"markets", "banks", "energy"} <= {t.name for t in settings.topics}
    [rule] = settings.rules
    assert rule.detector.min_total == DEMO_DETECTOR["min_total"]


def test_real_sources_get_a_burst_rule_and_a_weekly_rule_sized_in_days():
    wire = [{"name": "wire", "kind": "rss", "url": "https://news.example/rss"}]
    for bucket, per_day in (("day", 1), ("hour", 24)):
        burst, weekly = load_settings({"sources": wire, "bucket": bucket}).rules
        # A topic's negatives against all the news: one bucket against the 28 before it ...
        assert (burst.name, burst.detector.name, burst.detector.window_buckets, burst.detector.baseline_buckets) == (
            "negative_volume", "negative_volume", 1, 28)
        # ... and the last week against the 8 weeks before it, whatever the bucket size.
        assert weekly.name == "negative_volume/week" and weekly.detector.name == "negative_volume"
        assert (weekly.detector.window_buckets, weekly.detector.baseline_buckets) == (7 * per_day, 56 * per_day)
        assert weekly.detector.alpha == burst.detector.alpha  # the same sensitivity: only the time scale differs


def test_rules_are_named_tables_of_detector_keys():
    rules = load_settings({"rules": [{"kind": "count", "alpha": 0.01}, {"name": "slow", "window_buckets": 5}]}).rules
    assert [r.name for r in rules] == ["count", "slow"]
    assert rules[0].detector.alpha == 0.01 and rules[1].detector.window_buckets == 5
    # Unnamed rules are named by kind and window, so two unnamed rules of one kind and window collide.
    with pytest.raises(ConfigError, match=r"finance_monitor.rules\[1\].name: .*'negative_volume/w3'"):
        load_settings({"rules": [{"window_buckets": 3}, {"window_buckets": 3, "alpha": 0.01}]})


def test_a_monitor_is_named_after_the_topics_and_buckets_hourly():
    settings = load_settings({})
    monitor = Monitor(settings, store=None, sentiment=None)
    assert monitor.topic_names[0] == GENERAL_TOPIC and monitor.bucket == dt.timedelta(hours=1)


def test_every_key_is_read():
    settings = load_settings({
        "bucket": "day", "detect_every": 60, "retrain_every": 3600, "misfire_grace": 30, "topic_threshold": 0.4, "batch_size": 8,
        "admin_token": "s3cret", "dashboard_url": "https://troika.example/finance/", "scheduler": False,
        "fetch": {"read_timeout": 2, "max_bytes": 1000},
        "detector": {"kind": "count", "alpha": 0.01, "window_buckets": 3, "overdispersed": False},
        "alerts": {"fire_after": 2, "resolve_after": 3, "cooldown_hours": 6},
        "sources": [{"name": "wire", "kind": "rss", "url": "https://news.example/rss", "interval": 120}],
        "topics": [{"name": "ships", "keywords": ["shipping"]}],
    })
    assert settings.bucket == dt.timedelta(days=1) and settings.detect_every == 60 and settings.retrain_every == 3600
    [rule] = settings.rules
    assert rule.name == "count/w3" and rule.detector.window_buckets == 3 and not rule.detector.overdispersed
    assert settings.policy == AlertPolicy(fire_after=2, resolve_after=3, cooldown=dt.timedelta(hours=6))
    assert settings.fetch.read_timeout == 2 and settings.fetch.max_bytes == 1000
    assert settings.sources[0].interval == 120 and [t.name for t in settings.topics] == ["ships"]
    assert (settings.admin_token, settings.scheduler, settings.topic_threshold, settings.batch_size) == ("s3cret", False, 0.4, 8)


@pytest.mark.parametrize("section, key", [
    ({"bucket": "week"}, "finance_monitor.bucket"),
    ({"colour": "red"}, "finance_monitor.colour"),
    ({"sources": [{"name": "x", "kind": "ftp", "url": "ftp://a"}]}, "finance_monitor.sources[0].kind"),
    ({"sources": [{"name": "x", "kind": "rss"}]}, "finance_monitor.sources[0].url"),
    ({"sources": [{"name": "x", "kind": "replay", "path": "/nonexistent.csv"}]}, "finance_monitor.sources[0].path"),
    ({"sources": [{"name": "x", "kind": "rss", "url": "https://a", "interval": 0}]}, "finance_monitor.sources[0].interval"),
    ({"sources": [{"name": "x", "kind": "rss", "url": "https://a"}, {"name": "x", "kind": "rss", "url": "https://b"}]},
     "finance_monitor.sources[1].name"),
    ({"detector": {"kind": "magic"}}, "finance_monitor.detector.kind"),
    ({"detector": {"alpha": "high"}}, "finance_monitor.detector.alpha"),
    ({"detector": {"smoothing": 0.2}}, "finance_monitor.detector.smoothing"),
    ({"detector": {}, "rules": [{}]}, "give either"),
    ({"rules": []}, "finance_monitor.rules"),
    ({"rules": [{"name": "a b"}]}, "finance_monitor.rules[0].name"),
    ({"rules": [{"kind": "magic"}]}, "finance_monitor.rules[0].kind"),
    ({"alerts": {"resolve_after": 0}}, "finance_monitor.alerts"),
    ({"fetch": {"deadline": -1}}, "finance_monitor.fetch"),
    ({"topic_threshold": 2}, "finance_monitor.topic_threshold"),
    ({"sentiment_model": "/no/such/model"}, "finance_monitor.sentiment_model"),
    ({"topics": [{"name": "x"}]}, "finance_monitor.topics[0]"),
])
def test_a_bad_setting_is_a_config_error_naming_its_key(section, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_settings(section)


# ---- polling ---------------------------------------------------------------------------------


def test_a_poll_stores_scores_and_assigns_topics_and_the_same_feed_again_adds_nothing(db_url):
    body = demo_feed(NOW)
    with feed_server(body) as base:
        monitor = make_monitor(db_url, {**QUIET, "sources": [{"name": "wire", "kind": "rss", "url": f"{base}/feed.xml"}]}, clock=Clock(NOW))
        counts = monitor.poll_source("wire")
        assert counts["outcome"] == "ok" and counts["new"] == counts["fetched"] == counts["scored"] == 58
        again = monitor.poll_source("wire")  # the server answers 304 to the stored ETag
        assert again["outcome"] == "not_modified" and again["new"] == 0
    stored = monitor.store.articles(limit=100)
    assert len(stored) == 58 and all(a["sentiment"] in ("negative", "neutral") and a["model"] == "keywords" for a in stored)
    plunge = next(a for a in stored if a["title"].startswith("Harbourline Bank shares plunge"))
    assert plunge["sentiment"] == "negative" and plunge["score"] < 0
    assert {"banks", GENERAL_TOPIC} <= set(plunge["topics"])
    assert all(GENERAL_TOPIC in a["topics"] for a in stored)
    state = monitor.store.source_state("wire")
    assert state["etag"] == '"v1"' and state["last_status"] == "not_modified" and state["last_error"] is None


def test_the_replay_source_maps_its_rows_onto_the_wall_clock(db_url):
    clock = Clock(NOW)
    monitor = make_monitor(db_url, QUIET, clock=clock)  # no sources: the demo replay source
    first = monitor.poll("demo")
    assert first.new == 58 and first.scored == 58
    newest = monitor.store.articles(limit=1)[0]
    # Moved by whole hours (the last row, 07:47, into the hour before the current one), so every hour holds the
    # rows `troika finance replay` puts in it.
    assert newest["published_at"] == dt.datetime(2026, 5, 4, 11, 47, tzinfo=UTC)
    clock.now += dt.timedelta(hours=5)
    assert monitor.poll("demo").new == 0  # nothing is replayed twice


def test_a_replay_source_skips_and_logs_bad_rows_of_a_second_precision_export(db_url, tmp_path, caplog):
    export = tmp_path / "export.csv"
    export.write_text(
        "article_id,published_at,time_precision,source,ticker,headline,description,url,desk\n"
        "k1,2026-05-01T08:15:30+00:00,second,wire,,Kestrel Foods opens a plant,,https://n.example/k1,food\n"
        "k2,whenever,second,wire,,A row with a broken time,,,food\n"
        "k3,2026-05-01T09:00:00Z,,wire,,Kestrel Foods hires a chief executive,,https://n.example/k3,food\n"
    )
    monitor = make_monitor(db_url, {**QUIET, "sources": [{"name": "export", "kind": "replay", "path": str(export)}]}, clock=Clock(NOW))
    with caplog.at_level("WARNING", logger="finance_monitor.pipeline"):
        report = monitor.poll("export")
    assert report.outcome == "ok" and report.new == 2
    assert any("export.csv:3: skipped: bad published_at" in r.getMessage() for r in caplog.records)
    assert any("ignored column(s) desk" in r.getMessage() for r in caplog.records)


def test_articles_stored_but_not_yet_scored_are_scored_by_the_next_poll(db_url):
    monitor = make_monitor(db_url, QUIET, clock=Clock(NOW))
    scorer, monitor.sentiment = monitor.sentiment, None  # the model is not loaded yet
    assert monitor.poll("demo").scored == 0 and len(monitor.store.unscored()) == 58
    monitor.sentiment = scorer
    assert monitor.poll("demo").scored == 58 and monitor.store.unscored() == []


# ---- detection -------------------------------------------------------------------------------


def burst_feed(now: dt.datetime) -> bytes:
    """An original feed: a calm day of market news, then an hour of bad news about a made-up lender."""
    items = []
    for h in range(30, 1, -1):
        for k in range(3):
            at = now - dt.timedelta(hours=h, minutes=10 * k)
            title = f"Bank lending steady in survey {h}.{k}" if k == 1 else f"Markets steady in session {h}.{k} as investors wait for data"
            items.append((f"calm-{h}-{k}", title, at))
    for k in range(8):
        items.append((f"burst-{k}", f"Oakfield Bank shares plunge as losses mount, report {k}", now - dt.timedelta(minutes=55 - 5 * k)))
    from email.utils import format_datetime

    body = "".join(f"<item><title>{t}</title><guid>{g}</guid><pubDate>{format_datetime(at)}</pubDate></item>" for g, t, at in items)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'.encode()


SYNTHETIC = {**QUIET, "bucket": "hour",
             "detector": {"min_total": 5, "min_negative": 4, "min_baseline_total": 20, "min_baseline_buckets": 6},
             "alerts": {"resolve_after": 2}}


def test_detection_fires_on_a_burst_saves_the_alert_and_resolves_it_after_quiet_hours(db_url, caplog):
    now = dt.datetime(2026, 5, 4, 13, 0, tzinfo=UTC)
    clock = Clock(now)
    with feed_server(burst_feed(now)) as base:
        monitor = make_monitor(db_url, {**SYNTHETIC, "sources": [{"name": "wire", "kind": "rss", "url": f"{base}/f.xml"}]}, clock=clock)
        monitor.poll_source("wire")
    counts = monitor.detect()
    assert counts["fired"] >= 1
    [alert] = monitor.store.alerts(topic="banks")
    assert alert["state"] == "firing" and alert["started_at"] == dt.datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
    assert alert["evidence"]["negative"] == 8 and len(alert["evidence"]["top_negative_headlines"]) == 5
    assert any("Negative news spike on banks" in r.getMessage() for r in caplog.records)  # the log channel
    assert monitor.store.deliveries(alert["id"])[0]["ok"]
    assert monitor.detect()["windows"] == 0  # the same hour is never judged twice

    # Silenced on the dashboard: the resolution below is saved but not sent.
    monitor.store.silence_alert(alert["id"], now + dt.timedelta(hours=8), "alice")

    # A restarted monitor carries on from the stored alert book: two quiet hours resolve the alert.
    clock.now += dt.timedelta(hours=2)
    restarted = make_monitor(db_url, {**SYNTHETIC, "sources": [{"name": "wire", "kind": "rss", "url": "http://127.0.0.1:9/"}]}, clock=clock)
    counts = restarted.detect()
    assert counts["resolved"] >= 1 and counts["silenced"] >= 1
    [alert] = restarted.store.alerts(topic="banks")
    assert alert["state"] == "resolved" and alert["resolved_at"] == dt.datetime(2026, 5, 4, 15, 0, tzinfo=UTC)
    assert [d["event"] for d in restarted.store.deliveries(alert["id"])] == ["fired"]
    assert restarted.store.load_state(BOOK_STATE)["last_window_end"] == "2026-05-04T15:00:00+00:00"


def test_the_same_feed_twice_gives_the_same_rows_and_one_alert(db_url):
    now = dt.datetime(2026, 5, 4, 13, 0, tzinfo=UTC)
    with feed_server(burst_feed(now), etag=None) as base:  # no validators: the whole feed comes back each time
        monitor = make_monitor(db_url, {**SYNTHETIC, "sources": [{"name": "wire", "kind": "rss", "url": f"{base}/f.xml"}]}, clock=Clock(now))
        first = monitor.poll_source("wire")
        second = monitor.poll_source("wire")
    assert second["fetched"] == first["fetched"] == first["new"] and second["new"] == 0 and second["duplicates"] == first["fetched"]
    monitor.detect()
    assert [a["topic"] for a in monitor.store.alerts(topic="banks")] == ["banks"]


def test_the_demo_stream_scored_by_the_demo_model_raises_an_alert_on_its_bank_burst(db_url):
    monitor = make_monitor(db_url, QUIET, clock=Clock(NOW), scorer=demo_scorer())
    monitor.catch_up()
    firing = {a["topic"] for a in monitor.store.alerts(state="firing")}
    assert "banks" in firing


# ---- failing sources -------------------------------------------------------------------------


def test_a_failing_source_is_recorded_in_its_state_and_raised_for_the_job_record(db_url):
    monitor = make_monitor(db_url, {**QUIET, "fetch": {"connect_timeout": 1, "deadline": 2},
                                    "sources": [{"name": "gone", "kind": "rss", "url": "http://127.0.0.1:9/feed"}]})
    with pytest.raises(SourceProblem, match="source gone: error"):
        monitor.poll_source("gone")
    state = monitor.store.source_state("gone")
    assert state["last_status"] == "error" and state["last_error"] and state["last_ok_at"] is None


# ---- re-sending to Alertmanager ----------------------------------------------------------------


def alertmanager_stub(received: list):
    """A stand-in for Alertmanager's POST /api/v2/alerts that keeps every body it gets."""

    class Handler(QuietHandler):
        def do_POST(self):
            import json

            received.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send(200, b"")

    return serve(Handler)


def test_an_alert_fired_before_an_alertmanager_channel_existed_reaches_it_after_a_restart_and_keeps_being_sent(db_url):
    now = dt.datetime(2026, 5, 4, 13, 0, tzinfo=UTC)
    clock = Clock(now)
    with feed_server(burst_feed(now)) as base:
        monitor = make_monitor(db_url, {**SYNTHETIC, "sources": [{"name": "wire", "kind": "rss", "url": f"{base}/f.xml"}]}, clock=clock)
        monitor.poll_source("wire")
    assert monitor.detect()["fired"] >= 1  # only the log channel is configured
    [alert] = monitor.store.alerts(topic="banks")

    received = []
    with alertmanager_stub(received) as am:
        clock.now += dt.timedelta(minutes=5)  # same hour: nothing new to judge, the alert still fires
        section = {**SYNTHETIC, "sources": [{"name": "wire", "kind": "rss", "url": "http://127.0.0.1:9/"}],
                   "channels": [{"type": "alertmanager", "url": am}, {"type": "webhook", "name": "hook", "url": f"{am}/hook"}]}
        restarted = make_monitor(db_url, section, clock=clock)
        restarted.detect()
        restarted.detect()  # the next pass sends it again
    bodies = [body for path, body in received if path == "/api/v2/alerts" and body[0]["labels"]["topic"] == "banks"]
    assert len(bodies) == 2
    ends = dt.datetime.fromisoformat(bodies[0][0]["endsAt"].replace("Z", "+00:00"))
    assert ends - dt.datetime.now(UTC) <= dt.timedelta(seconds=4 * 300 + 5)  # a few detection intervals, not a day
    assert bodies[0][0]["generatorURL"] == "http://127.0.0.1:8000/finance/"  # no dashboard_url: the server's own
    assert not [p for p, _ in received if p == "/hook"]  # a webhook got its "fired" once; it is not re-sent
    assert [a["id"] for a in restarted.store.alerts(topic="banks")] == [alert["id"]]  # no new alert rows
    assert [d["event"] for d in restarted.store.deliveries(alert["id"])] == ["fired"]  # successful re-sends leave no rows
