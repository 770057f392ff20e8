"""The alerting dashboard and its JSON API on SQLite and PostgreSQL, over a real store seeded through its API."""

import datetime as dt
import types
from pathlib import Path

import pytest

import finance_monitor
from finance_monitor.detect.alert_lifecycle import Alert, fingerprint
from finance_monitor.ingest.articles import RawArticle
from finance_monitor.ingest.normalise import normalise
from finance_monitor.scoring.topics import Topic
from finance_monitor.store import MonitorStore
from finance_monitor.web import api_spec, make_blueprint
from shared.config import load_config
from shared.server import Plugin, build_app
from shared.storage import engine_for, migrate

MIGRATIONS = Path(finance_monitor.__file__).parent / "migrations"
UTC = dt.UTC
NOW = dt.datetime(2026, 5, 20, 15, 30, tzinfo=UTC)
TOKEN = "finance-admin-token-for-tests-0123"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
TOPICS = [Topic("banks", "Banks and lenders", ("bank", "lender"), ("NBK",)), Topic("energy", "Oil, gas and power", ("oil",))]
HOSTILE = '<img src=x onerror="window.pwned=1">Northbank <b>halts</b> withdrawals'
# Feeds' markup is stripped at ingest; markup written as entities survives as text, as HOSTILE.
HOSTILE_IN_FEED = HOSTILE.replace("<", "&lt;").replace(">", "&gt;")


def seed(store: MonitorStore) -> dict:
    """Two weeks of made-up news: calm, then a burst of negative bank stories today; one alert firing, one resolved."""
    day = dt.timedelta(days=1)
    stories = []
    for d in range(14, 0, -1):
        when = NOW - d * day
        stories.append(("banks", f"Northbank reports steady deposits, day {d}", when, "neutral", 0.05))
        stories.append(("banks", f"Lender margins widen on rate outlook, day {d}", when + dt.timedelta(hours=2), "positive", 0.6))
        stories.append(("energy", f"Oil output flat as demand holds, day {d}", when + dt.timedelta(hours=1), "neutral", 0.0))
    for i in range(6):
        stories.append(("banks", f"Northbank shares plunge as regulator probes losses, report {i}", NOW - dt.timedelta(hours=i + 1),
                        "negative", -0.9 + i * 0.02))
    stories.append(("banks", HOSTILE_IN_FEED, NOW - dt.timedelta(minutes=30), "negative", -0.95))
    batch = [normalise(RawArticle(source="wire", title=title, text="", guid=f"g-{n}", url=f"https://news.example/{n}",
                                  published_at=when, time_precision="minute", tickers=()), fetched_at=when)
             for n, (_, title, when, _, _) in enumerate(stories)]
    new_ids = store.add_articles(batch).new_ids
    assert len(new_ids) == len(stories)
    store.set_sentiment([(i, sentiment, score, {}, "test-model") for i, (_, _, _, sentiment, score) in zip(new_ids, stories)])
    for article_id, (topic, *_) in zip(new_ids, stories):
        store.set_topics(article_id, [(topic, "keyword", 1.0), ("general-market", "general", 1.0)])
    ids = {title: i for i, (_, title, *_) in zip(new_ids, stories)}
    negative_ids = [ids[HOSTILE_IN_FEED]] + [ids[f"Northbank shares plunge as regulator probes losses, report {i}"] for i in range(4)]
    evidence = {"window_start": (NOW - day).isoformat(), "window_end": NOW.isoformat(), "negative": 7, "total": 9, "share": 0.7778,
                "baseline": {"share": 0.05, "buckets": 14}, "p_value": 1.2e-7, "statistic": 15.5, "top_negative_ids": negative_ids}
    firing = store.save_alert(Alert(fingerprint("banks", "share"), "banks", "share", "critical", NOW - day, NOW, evidence))
    resolved = store.save_alert(Alert(fingerprint("energy", "count"), "energy", "count", "warning", NOW - 10 * day, NOW - 9 * day,
                                      {"negative": 5, "total": 8, "share": 0.625, "baseline": {"rate": 1.1}, "p_value": 1e-4,
                                       "top_negative_ids": []}, state="resolved", resolved_at=NOW - 8 * day))
    store.record_job_run("source:wire", "ok", started_at=NOW - dt.timedelta(minutes=10), finished_at=NOW - dt.timedelta(minutes=9),
                         counts={"new": 3, "duplicates": 1})
    store.record_job_run("source:wire", "error", started_at=NOW - dt.timedelta(minutes=5), detail="FetchError timeout: read timed out")
    store.record_job_run("detect", "missed", started_at=NOW - dt.timedelta(minutes=3), scheduled_at=NOW - dt.timedelta(minutes=6),
                         detail="missed by 180 s (misfire grace 120 s)")
    store.save_source_state("wire", last_fetch_at=NOW - dt.timedelta(minutes=5), last_ok_at=NOW - dt.timedelta(minutes=10),
                            last_status="error", last_error="timeout: read timed out")
    return {"firing": firing, "resolved": resolved, "ids": ids, "negative_ids": negative_ids}


class FakeScheduler:
    running = True

    def __init__(self):
        self.ran = []

    def jobs(self):
        return [{"id": "source:wire", "next_run_at": NOW + dt.timedelta(minutes=5)}, {"id": "detect", "next_run_at": None}]

    def run_now(self, job_id):
        self.ran.append(job_id)


def make_app(tmp_path, db_url, *, admin_token=TOKEN, scheduler=None, bucket=dt.timedelta(days=1), clock=lambda: NOW):
    config = load_config(env={}, var_dir=tmp_path, testing=True, admin_token=admin_token, apps=["finance_monitor"],
                         database_url=db_url)
    engine = engine_for(db_url)
    migrate(engine, MIGRATIONS, "finance_monitor_alembic_version")
    store = MonitorStore(engine, clock=clock)
    monitor = types.SimpleNamespace(store=store, topics=list(TOPICS), bucket=bucket, scheduler=scheduler,
                                    admin_token=admin_token or None, config=config)
    plugin = Plugin(name="finance_monitor", title="Finance monitor", description="test", blueprint=make_blueprint(monitor),
                    url_prefix="/finance", api_spec=api_spec)
    app = build_app(config, [plugin])
    app.extensions["test.monitor"] = monitor
    return app


@pytest.fixture
def app(tmp_path, db_url):
    app = make_app(tmp_path, db_url, scheduler=FakeScheduler())
    app.extensions["test.seed"] = seed(app.extensions["test.monitor"].store)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def seeded(app):
    return app.extensions["test.seed"]


# --- JSON API ---------------------------------------------------------------------------


def test_topics_list_every_topic_with_its_window_totals_and_firing_alerts(client):
    body = client.get("/finance/api/topics").json
    assert body["bucket"] == "day" and body["bucket_seconds"] == 86400
    assert body["until"] == "2026-05-21T00:00:00Z" and body["since"] == "2026-04-21T00:00:00Z"
    topics = {t["name"]: t for t in body["topics"]}
    assert list(topics) == ["banks", "energy", "general-market"]
    banks = topics["banks"]
    assert (banks["volume"], banks["negative"], banks["firing_alerts"]) == (35, 7, 1)
    assert banks["keywords"] == ["bank", "lender"] and banks["tickers"] == ["NBK"]
    assert banks["latest"]["start"] == "2026-05-20T00:00:00Z" and banks["latest"]["negative"] == 7
    assert topics["energy"]["firing_alerts"] == 0 and topics["general-market"]["volume"] == 49


def test_a_trend_is_dense_per_bucket_with_share_and_mean_score(client):
    body = client.get("/finance/api/topics/banks/trend?buckets=3").json
    assert [p["start"] for p in body["points"]] == ["2026-05-18T00:00:00Z", "2026-05-19T00:00:00Z", "2026-05-20T00:00:00Z"]
    yesterday, today = body["points"][1], body["points"][2]
    assert (yesterday["volume"], yesterday["negative"], yesterday["negative_share"]) == (2, 0, 0.0)
    assert yesterday["mean_score"] == pytest.approx(0.325)
    assert (today["volume"], today["negative"], today["negative_share"]) == (7, 7, 1.0)
    assert today["mean_score"] < -0.8
    hourly = client.get("/finance/api/topics/banks/trend?bucket=hour&buckets=24").json
    assert hourly["bucket"] == "hour" and len(hourly["points"]) == 24 and hourly["points"][-1]["start"] == "2026-05-20T15:00:00Z"
    assert sum(p["volume"] for p in hourly["points"]) == 7 + 1  # today's negatives and yesterday's 17:30 story
    # A story dated only by its day stays out of hourly buckets (it would pile on noon) and is counted as too coarse.
    store = client.application.extensions["test.monitor"].store
    raw = RawArticle(source="wire", title="Northbank results due this week", text="", guid="day-1", url=None,
                     published_at=NOW.replace(hour=12, minute=0), time_precision="day", tickers=())
    [day_id] = store.add_articles([normalise(raw, fetched_at=NOW)]).new_ids
    store.set_sentiment([(day_id, "neutral", 0.0, {}, "test-model")])
    store.set_topics(day_id, [("banks", "keyword", 1.0)])
    hourly = client.get("/finance/api/topics/banks/trend?bucket=hour&buckets=24").json
    assert sum(p["volume"] for p in hourly["points"]) == 8 and hourly["too_coarse"] == 1
    assert client.get("/finance/api/topics/banks/trend?buckets=1").json["points"][0]["volume"] == 8
    past = client.get("/finance/api/topics/banks/trend?buckets=2&until=2026-05-10T08:00:00%2B02:00").json
    assert past["until"] == "2026-05-11T00:00:00Z" and [p["volume"] for p in past["points"]] == [2, 2]


def test_articles_are_filtered_by_topic_and_sentiment_newest_first(client, seeded):
    body = client.get("/finance/api/articles?topic=banks&sentiment=negative&limit=3").json
    titles = [a["title"] for a in body["articles"]]
    assert len(titles) == 3 and titles[0].startswith("<img") and "report 0" in titles[1]
    assert body["articles"][0]["topics"] == ["banks", "general-market"] and body["articles"][0]["score"] == -0.95
    assert "raw_text" not in body["articles"][0]
    energy = client.get("/finance/api/articles?topic=energy&since=2026-05-18T00:00:00Z").json["articles"]
    assert [a["title"] for a in energy] == ["Oil output flat as demand holds, day 1", "Oil output flat as demand holds, day 2"]


def test_alerts_carry_their_evidence_and_top_negative_headlines(client, seeded):
    alerts = client.get("/finance/api/alerts").json["alerts"]
    assert [a["topic"] for a in alerts] == ["banks", "energy"]
    firing = alerts[0]
    assert (firing["state"], firing["severity"], firing["acknowledged_at"], firing["silenced"]) == ("firing", "critical", None, False)
    assert firing["evidence"]["negative"] == 7 and firing["evidence"]["baseline"] == {"share": 0.05, "buckets": 14}
    assert [h["id"] for h in firing["headlines"]] == seeded["negative_ids"]
    assert firing["headlines"][0]["title"] == HOSTILE and firing["headlines"][0]["sentiment"] == "negative"
    assert [a["id"] for a in client.get("/finance/api/alerts?state=resolved").json["alerts"]] == [seeded["resolved"]]
    assert client.get("/finance/api/alerts?topic=nobody").json["alerts"] == []


def test_acknowledging_and_silencing_need_the_admin_token_and_go_through_the_store(client, app, seeded):
    alert_id = seeded["firing"]
    url = f"/finance/api/alerts/{alert_id}"
    assert client.post(url + "/ack", json={}).status_code == 401
    assert client.post(url + "/ack", json={}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    acked = client.post(url + "/ack", json={"by": "alice"}, headers=ADMIN)
    assert acked.status_code == 200 and acked.json["acknowledged_by"] == "alice"
    assert acked.json["acknowledged_at"] == "2026-05-20T15:30:00Z" and acked.json["state"] == "firing"
    silenced = client.post(url + "/silence", json={"minutes": 90}, headers={"X-Admin-Token": TOKEN})
    assert silenced.json["silenced"] is True and silenced.json["silenced_until"] == "2026-05-20T17:00:00Z"
    store = app.extensions["test.monitor"].store
    assert store.alert(alert_id)["acknowledged_by"] == "alice" and store.is_silenced(alert_id)
    assert client.post(url + "/silence", json={"minutes": 0}, headers=ADMIN).json["silenced"] is False
    assert not store.is_silenced(alert_id)


def test_saving_the_alert_again_keeps_its_acknowledgement(client, app, seeded):
    client.post(f"/finance/api/alerts/{seeded['firing']}/ack", json={}, headers=ADMIN)
    store = app.extensions["test.monitor"].store
    row = store.alert(seeded["firing"])
    again = Alert(row["fingerprint"], "banks", "share", "critical", row["started_at"], NOW + dt.timedelta(hours=1), row["evidence"],
                  windows_fired=2)
    assert store.save_alert(again) == seeded["firing"]
    assert store.alert(seeded["firing"])["acknowledged_by"] == "admin" and store.alert(seeded["firing"])["windows_fired"] == 2


def test_acknowledging_again_keeps_the_first_acknowledgement(client, app, seeded):
    url = f"/finance/api/alerts/{seeded['firing']}/ack"
    first = client.post(url, json={"by": "alice"}, headers=ADMIN).json
    store = app.extensions["test.monitor"].store
    store.acknowledge_alert(seeded["firing"], "carol", at=NOW + dt.timedelta(hours=3))  # later, by someone else
    again = client.post(url, json={"by": "bob"}, headers=ADMIN)
    assert again.status_code == 200
    assert (again.json["acknowledged_by"], again.json["acknowledged_at"]) == ("alice", first["acknowledged_at"])
    assert client.post("/finance/api/alerts/999999/ack", json={}, headers=ADMIN).status_code == 404


def test_admin_routes_are_closed_when_no_token_is_configured(tmp_path, db_url):
    app = make_app(tmp_path, db_url, admin_token="")
    alert_id = seed(app.extensions["test.monitor"].store)["firing"]
    client = app.test_client()
    response = client.post(f"/finance/api/alerts/{alert_id}/ack", json={}, headers={"Authorization": "Bearer anything"})
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"
    assert client.post(f"/finance/alerts/{alert_id}/ack", data={"token": ""}).status_code == 403
    assert client.post("/finance/api/jobs/detect/run", headers={"Authorization": "Bearer x"}).status_code == 403
    assert app.extensions["test.monitor"].store.alert(alert_id)["acknowledged_at"] is None


def test_the_monitors_own_token_decides_and_none_closes_the_actions(tmp_path, db_url):
    app = make_app(tmp_path, db_url)
    monitor = app.extensions["test.monitor"]
    alert_id = seed(monitor.store)["firing"]
    client = app.test_client()
    monitor.admin_token = None  # the suite has a token configured, the monitor none: closed
    assert client.post(f"/finance/api/alerts/{alert_id}/ack", json={}, headers=ADMIN).status_code == 403
    monitor.admin_token = "another-token-for-the-monitor-only"
    assert client.post(f"/finance/api/alerts/{alert_id}/ack", json={}, headers=ADMIN).status_code == 401
    assert client.post(f"/finance/api/alerts/{alert_id}/ack", json={}, headers={"X-Admin-Token": monitor.admin_token}).status_code == 200


def test_times_far_outside_any_news_are_clamped_not_errors(client):
    body = client.get("/finance/api/topics/banks/trend?buckets=2&until=0001-01-01T00:00:00%2B05:00").json
    assert body["until"] == "1971-01-02T00:00:00Z" and [p["volume"] for p in body["points"]] == [0, 0]
    assert client.get("/finance/api/articles?since=9999-12-31T23:59:59-05:00").json["articles"] == []


@pytest.mark.parametrize("path, field", [
    ("/finance/api/topics?buckets=0", "buckets"),
    ("/finance/api/topics?buckets=5000", "buckets"),
    ("/finance/api/topics?bucket=week", "bucket"),
    ("/finance/api/topics/banks/trend?until=yesterday", "until"),
    ("/finance/api/topics/banks/trend?until=2026-05-01T00:00:00", "until"),  # no time zone
    ("/finance/api/articles?limit=0", "limit"),
    ("/finance/api/articles?sentiment=angry", "sentiment"),
    ("/finance/api/articles?topic=%3Cscript%3E", "topic"),
    ("/finance/api/alerts?state=open", "state"),
    ("/finance/api/jobs?outcome=fine", "outcome"),
    ("/finance/api/alerts?colour=red", "colour"),
])
def test_bad_query_parameters_are_a_400_naming_the_field(client, path, field):
    response = client.get(path)
    assert response.status_code == 400, response.json
    assert response.json["error"]["field"] == field


def test_bad_bodies_and_unknown_ids_are_clear_4xx(client, seeded):
    url = f"/finance/api/alerts/{seeded['firing']}"
    assert client.post(url + "/silence", json={"minutes": -1}, headers=ADMIN).json["error"]["field"] == "minutes"
    assert client.post(url + "/silence", json={"minutes": 10 ** 6}, headers=ADMIN).status_code == 400
    assert client.post(url + "/silence", json={}, headers=ADMIN).json["error"]["field"] == "minutes"
    assert client.post(url + "/ack", json={"by": ""}, headers=ADMIN).json["error"]["field"] == "by"
    assert client.post(url + "/ack", json={"by": "eve\nINFO forged log line"}, headers=ADMIN).json["error"]["field"] == "by"
    assert client.post(url + "/ack", data="by=me", headers=ADMIN).status_code == 415
    assert client.post(url + "/ack", data="{", headers=ADMIN, content_type="application/json").status_code == 400
    assert client.post(url + "/ack", json={"by": "x" * 100_000}, headers=ADMIN).status_code == 413
    assert client.post("/finance/api/alerts/99999/ack", json={}, headers=ADMIN).status_code == 404
    assert client.get("/finance/api/topics/nosuch/trend").status_code == 404
    assert client.get("/finance/api/alerts/1/ack").status_code == 405
    assert client.get("/finance/topics/nosuch").status_code == 404


def test_jobs_show_runs_errors_misses_and_sources(client):
    body = client.get("/finance/api/jobs").json
    assert body["scheduler_running"] is True and [j["id"] for j in body["jobs"]] == ["source:wire", "detect"]
    assert [r["outcome"] for r in body["runs"]] == ["missed", "error", "ok"]
    assert (body["errors"], body["missed"]) == (1, 1)
    assert body["runs"][2]["counts"] == {"new": 3, "duplicates": 1}
    assert body["sources"] == [{"source": "wire", "last_fetch_at": "2026-05-20T15:25:00Z", "last_ok_at": "2026-05-20T15:20:00Z",
                                "last_status": "error", "last_error": "timeout: read timed out"}]
    assert [r["outcome"] for r in client.get("/finance/api/jobs?outcome=error").json["runs"]] == ["error"]


def test_run_now_asks_the_scheduler_with_the_token(client, app):
    scheduler = app.extensions["test.monitor"].scheduler
    assert client.post("/finance/api/jobs/detect/run").status_code == 401
    response = client.post("/finance/api/jobs/detect/run", headers=ADMIN)
    assert response.status_code == 202 and response.json == {"job_id": "detect", "scheduled": True}
    assert client.post("/finance/api/jobs/nosuch/run", headers=ADMIN).status_code == 404
    assert scheduler.ran == ["detect"]


def test_without_a_scheduler_jobs_still_show_and_run_now_is_a_conflict(tmp_path, db_url):
    app = make_app(tmp_path, db_url)
    client = app.test_client()
    assert client.get("/finance/api/jobs").json == {"scheduler_running": False, "jobs": [], "runs": [], "errors": 0, "missed": 0, "sources": []}
    assert client.post("/finance/api/jobs/detect/run", headers=ADMIN).status_code == 409
    assert client.get("/finance/api/topics").json["topics"][0]["volume"] == 0
    assert client.get("/finance/").status_code == 200


def test_api_responses_are_not_cached_and_pages_have_a_csp(client):
    api = client.get("/finance/api/alerts")
    assert api.headers["Cache-Control"] == "no-store" and api.headers["X-Content-Type-Options"] == "nosniff"
    page = client.get("/finance/")
    assert "script-src" not in page.headers["Content-Security-Policy"] and "default-src 'self'" in page.headers["Content-Security-Policy"]


# --- pages ------------------------------------------------------------------------------


def test_the_overview_shows_each_topic_with_a_chart_and_the_firing_alert(client, seeded):
    html = client.get("/finance/").get_data(as_text=True)
    for name in ("banks", "energy", "general-market"):
        assert f'data-src="/finance/api/topics/{name}/trend"' in html
    assert "1 alert(s) firing" in html and f'id="firing-{seeded["firing"]}"' in html
    assert "vendor/chart.umd.min.js" in html and "https://" not in html.split("<body")[0]  # nothing from a CDN
    assert "2 of the last 50 job runs failed or were missed" in html


def test_the_topic_page_colours_headlines_by_sentiment_and_escapes_them(client):
    html = client.get("/finance/topics/banks").get_data(as_text=True)
    assert 'data-kind="detail"' in html
    assert 'class="fm-sentiment--negative" data-sentiment="negative"' in html
    assert 'class="fm-sentiment--positive" data-sentiment="positive"' in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=" in html


def test_the_alerts_page_shows_evidence_and_actions(client, seeded):
    html = client.get("/finance/alerts").get_data(as_text=True)
    assert f'id="alert-{seeded["firing"]}"' in html and f'id="alert-{seeded["resolved"]}"' in html
    assert "7 of 9 (78 %)" in html and "Baseline share" in html and "1.2e-07" in html
    assert "Northbank shares plunge as regulator probes losses, report 0" in html and "&lt;b&gt;halts&lt;/b&gt;" in html
    assert f'action="/finance/alerts/{seeded["firing"]}/ack"' in html
    only_resolved = client.get("/finance/alerts?state=resolved").get_data(as_text=True)
    assert f'id="alert-{seeded["firing"]}"' not in only_resolved
    assert client.get("/finance/alerts?state=bogus").status_code == 400


def test_the_dashboard_forms_take_the_token_as_a_field_and_refuse_other_sites(client, app, seeded):
    alert_id = seeded["firing"]
    store = app.extensions["test.monitor"].store
    assert client.post(f"/finance/alerts/{alert_id}/ack", data={"token": "wrong"}).status_code == 401
    assert client.post(f"/finance/alerts/{alert_id}/ack", data={"token": TOKEN}, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert client.post(f"/finance/alerts/{alert_id}/ack", json={"token": TOKEN}).status_code == 415
    assert store.alert(alert_id)["acknowledged_at"] is None
    done = client.post(f"/finance/alerts/{alert_id}/ack", data={"token": TOKEN, "by": "bob"})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/finance/alerts?done=acknowledged#alert-{alert_id}")
    assert store.alert(alert_id)["acknowledged_by"] == "bob"
    assert client.post(f"/finance/alerts/{alert_id}/silence", data={"token": TOKEN, "minutes": "soon"}).status_code == 400
    assert client.post(f"/finance/alerts/{alert_id}/silence", data={"token": TOKEN, "minutes": "60"}).status_code == 303
    assert store.alert(alert_id)["silenced_until"] == NOW + dt.timedelta(hours=1)
    assert client.post(f"/finance/alerts/{alert_id}/silence", headers=ADMIN, data={"minutes": "0"}).status_code == 303
    assert store.alert(alert_id)["silenced_until"] is None
    assert client.post("/finance/jobs/detect/run", data={"token": TOKEN}).status_code == 303
    assert app.extensions["test.monitor"].scheduler.ran == ["detect"]


def test_the_jobs_page_shows_errors_misses_and_sources(client):
    html = client.get("/finance/jobs").get_data(as_text=True)
    assert 'data-outcome="error"' in html and "FetchError timeout: read timed out" in html
    assert 'data-outcome="missed"' in html and "missed by 180 s" in html
    assert "timeout: read timed out" in html and "(1 error(s), 1 missed)" in html
    assert 'action="/finance/jobs/source:wire/run"' in html


def test_metrics_count_articles_alerts_per_topic_and_job_errors(client):
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert "troika_finance_store_up 1.0" in text
    assert "troika_finance_articles_ingested_total 49.0" in text
    assert 'troika_finance_articles{sentiment="negative"} 7.0' in text
    assert 'troika_finance_alerts_firing{topic="banks"} 1.0' in text
    assert 'troika_finance_alerts_firing{topic="energy"} 0.0' in text
    assert 'troika_finance_job_runs_total{job="source:wire",outcome="error"} 1.0' in text
    assert 'troika_finance_source_last_ok_timestamp_seconds{source="wire"}' in text
    assert "process_" in text or "python_info" in text


def test_an_unknown_topics_page_is_an_html_404_and_its_api_keeps_the_json_error(client, seeded):
    page = client.get("/finance/topics/nope<b>")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "Not found" in page.text and "no topic &#39;nope&lt;b&gt;&#39;" in page.text  # escaped, like every page
    api = client.get("/finance/api/topics/nope/trend")
    assert api.status_code == 404 and api.json["error"]["code"] == "not_found"


def test_unknown_dashboard_addresses_and_ids_get_the_html_404_page_while_the_api_keeps_json(client, seeded):
    for path in ("/finance/nope", "/finance/alerts/999999", "/finance/topics/banks/extra"):
        page = client.get(path)
        assert page.status_code == 404 and page.mimetype == "text/html", path
        assert "Not found" in page.text and f"no page {path}" in page.text
    form = client.post("/finance/alerts/999999/ack", data={"token": TOKEN})  # a form on an alert since deleted
    assert form.status_code == 404 and form.mimetype == "text/html" and "no alert 999999" in form.text
    for path in ("/finance/api/nope", "/finance/api"):
        api = client.get(path)
        assert api.status_code == 404 and api.json["error"]["code"] == "not_found", path
    assert client.get("/finance/api/alerts/1/ack").status_code == 405  # the API's routes still say which method
