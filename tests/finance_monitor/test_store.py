import dataclasses
import datetime as dt
import threading
from pathlib import Path

import pytest

import finance_monitor
from finance_monitor.detect.alert_lifecycle import Alert, fingerprint
from finance_monitor.ingest.articles import RawArticle
from finance_monitor.ingest.normalise import normalise
from finance_monitor.store import MonitorStore
from shared.storage import migrate

MIGRATIONS = Path(finance_monitor.__file__).parent / "migrations"
UTC = dt.UTC
NOON = dt.datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def article(title, *, guid=None, url=None, at=NOON, source="wire", text="", tickers=()):
    raw = RawArticle(source=source, title=title, text=text, guid=guid, url=url, published_at=at, time_precision="minute", tickers=tickers)
    return normalise(raw, fetched_at=at)


# A made-up feed: three stories about a fictional lender.
FEED = [
    article("Northbank shares slide after profit warning", guid="nb-1", url="https://news.example/nb-1?utm_source=x", tickers=("NBK",)),
    article("Northbank names new chief risk officer", guid="nb-2", url="https://news.example/nb-2"),
    article("Regulator opens review of Northbank lending", guid="nb-3", url="https://news.example/nb-3", at=NOON + dt.timedelta(hours=2)),
]


@pytest.fixture
def store(db_engine):
    migrate(db_engine, MIGRATIONS, "finance_monitor_alembic_version")
    return MonitorStore(db_engine)


def test_the_same_feed_twice_gives_the_same_rows(store):
    first = store.add_articles(FEED)
    assert len(first.new_ids) == 3 and first.summary() == "3 new article(s), 0 duplicate(s)"
    again = store.add_articles(FEED)
    assert again.new_ids == [] and again.duplicates == {"guid/url": 3}
    assert store.count_articles() == 3


def test_the_same_story_under_another_url_or_guid_is_a_duplicate(store):
    store.add_articles(FEED)
    by_url = article("Different headline", guid="other-guid", url="https://news.example/nb-1")  # tracking params dropped
    by_title = article("NORTHBANK shares slide after profit warning!", source="another-wire", at=NOON + dt.timedelta(hours=5))
    result = store.add_articles([by_url, by_title])
    assert result.duplicates == {"guid/url": 1, "title": 1}


def test_a_recurring_headline_weeks_later_is_news_again(store):
    store.add_articles([article("Stocks that hit 52-week highs on Friday", at=NOON)])
    later = store.add_articles([article("Stocks that hit 52-week highs on Friday", at=NOON + dt.timedelta(days=7))])
    assert len(later.new_ids) == 1


def test_two_processes_ingesting_the_same_feed_at_once_store_it_once(store):
    barrier, errors = threading.Barrier(3), []

    def ingest():
        try:
            barrier.wait()
            store.add_articles(FEED)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ingest) for _ in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == [] and store.count_articles() == 3


def test_scores_and_topics_are_stored_and_queried(store):
    ids = store.add_articles(FEED).new_ids
    assert [a["id"] for a in store.unscored()] == ids
    store.set_sentiment([(ids[0], "negative", -0.8, {"negative": 0.85, "neutral": 0.1, "positive": 0.05}, "sent@1"),
                         (ids[2], "negative", -0.6, {"negative": 0.7, "neutral": 0.2, "positive": 0.1}, "sent@1")])
    store.set_topics(ids[0], [("banks", "ticker", 1.0), ("general-market", "general", 1.0)])
    store.set_topics(ids[2], [("banks", "embedding", 0.62)])
    store.set_topics(ids[2], [("banks", "keyword", 1.0)])  # assigning again updates
    assert [a["id"] for a in store.unscored()] == [ids[1]]

    banks = store.articles(topic="banks")
    assert [a["title"] for a in banks] == ["Regulator opens review of Northbank lending", "Northbank shares slide after profit warning"]
    assert banks[1]["topics"] == ["banks", "general-market"] and banks[1]["tickers"] == ["NBK"]
    assert store.articles(sentiment="negative", since=NOON + dt.timedelta(hours=1))[0]["id"] == ids[2]

    rows = store.scored_by_topic(NOON - dt.timedelta(days=1), NOON + dt.timedelta(days=1))
    assert sorted(rows) == sorted([("banks", NOON, "negative", -0.8), ("general-market", NOON, "negative", -0.8),
                                   ("banks", NOON + dt.timedelta(hours=2), "negative", -0.6)])


def test_source_state_keeps_conditional_request_headers(store):
    assert store.source_state("wire") == {"source": "wire"}
    store.save_source_state("wire", etag='"abc"', last_modified="Mon, 04 May 2026 12:00:00 GMT", last_fetch_at=NOON, last_status="ok")
    store.save_source_state("wire", etag='"def"', last_fetch_at=NOON + dt.timedelta(minutes=5), last_status="not-modified")
    saved = store.source_state("wire")
    assert (saved["etag"], saved["last_modified"], saved["last_status"]) == ('"def"', "Mon, 04 May 2026 12:00:00 GMT", "not-modified")


def test_job_runs_errors_and_misses_are_kept_for_the_dashboard(store):
    store.record_job_run("source:wire", "ok", started_at=NOON, finished_at=NOON, counts={"new": 3})
    store.record_job_run("source:wire", "error", started_at=NOON, detail="timed out after 10 s")
    store.record_job_run("detect", "missed", started_at=NOON, scheduled_at=NOON - dt.timedelta(minutes=3))
    assert [r["outcome"] for r in store.job_runs()] == ["missed", "error", "ok"]
    assert store.job_runs(outcome="error")[0]["detail"] == "timed out after 10 s"
    with pytest.raises(ValueError, match="outcome"):
        store.record_job_run("detect", "maybe", started_at=NOON)


def test_an_alert_episode_is_one_row_updated_through_its_lifecycle(store):
    alert = Alert(fingerprint=fingerprint("banks", "binomial"), topic="banks", rule="binomial", severity="warning",
                  started_at=NOON, last_fired_at=NOON + dt.timedelta(hours=1), evidence={"negative": 9, "total": 12, "p_value": 0.001})
    alert_id = store.save_alert(alert)
    escalated = dataclasses.replace(alert, severity="critical", windows_fired=2, last_fired_at=NOON + dt.timedelta(hours=2))
    assert store.save_alert(escalated) == alert_id
    resolved = dataclasses.replace(escalated, state="resolved", resolved_at=NOON + dt.timedelta(hours=4))
    assert store.save_alert(resolved) == alert_id
    [saved] = store.alerts()
    assert (saved["state"], saved["severity"], saved["windows_fired"]) == ("resolved", "critical", 2)
    assert saved["evidence"]["negative"] == 9
    assert store.alerts(state="firing") == []

    store.record_delivery(alert_id, "fired", "alertmanager", 1, False, error="connection refused")
    store.record_delivery(alert_id, "fired", "alertmanager", 2, True, status_code=200)
    assert [(d["attempt"], d["ok"]) for d in store.deliveries(alert_id)] == [(1, False), (2, True)]


def test_named_state_survives_a_new_store(store, db_engine):
    assert store.load_state("alert-book", {}) == {}
    store.save_state("alert-book", {"fp": {"pending": 1, "alert": None}})
    store.save_state("alert-book", {"fp": {"pending": 2, "alert": None}})
    assert MonitorStore(db_engine).load_state("alert-book") == {"fp": {"pending": 2, "alert": None}}
