"""Analysts correct articles' sentiment on the dashboard; the retraining job learns the corrections and the
monitor scores with the promoted model without a restart. On SQLite and PostgreSQL, with the demo model."""

import datetime as dt
import time

import pytest

from finance_monitor.ingest.articles import RawArticle
from finance_monitor.ingest.normalise import normalise
from finance_monitor.pipeline import Monitor
from finance_monitor.settings import load_settings
from finance_monitor.store import MonitorStore
from finance_monitor.web import api_spec, make_blueprint
from shared.artifacts import onnx_dir
from shared.config import Config, load_config
from shared.server import Plugin, build_app
from shared.storage import engine_for

from .monitor_helpers import with_demo_model

UTC = dt.UTC
NOW = dt.datetime(2026, 5, 20, 15, 30, tzinfo=UTC)
TOKEN = "finance-admin-token-for-tests-0123"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
SECTION = {"admin_token": TOKEN, "topic_threshold": False, "scheduler": False}
# Made-up headlines an analyst reads otherwise than the demo model does.
HEADLINES = [
    "Northbank opens three new branches in the north",
    "Quarterly report from Corvex Motors due on Tuesday",
    "Harbourline Bank names a new chief financial officer",
    "Pellmark Energy keeps its dividend unchanged",
    "Analysts expect steady demand for Corvex cars",
    "Northbank to publish annual results next week",
    "Regulator reviews Harbourline lending practices",
    "Pellmark Energy signs a supply deal with a utility",
]


def monitor_with_demo_model(db_url, var_dir) -> Monitor:
    """A monitor as `troika run` makes one: the demo model (trained once per test process) loaded by prepare()."""
    with_demo_model(var_dir)
    monitor = Monitor(load_settings(SECTION), MonitorStore(engine_for(db_url), clock=lambda: NOW), config=SECTION)
    monitor.suite = Config(var_dir=var_dir, database_url=db_url)
    monitor.prepare(progress=False)
    return monitor


def add_articles(monitor: Monitor, titles) -> list[int]:
    batch = [normalise(RawArticle(source="wire", title=title, text="", guid=f"g-{title}", url=None, published_at=NOW,
                                  time_precision="minute", tickers=()), fetched_at=NOW) for title in titles]
    return monitor.store.add_articles(batch).new_ids


def client_for(monitor: Monitor, tmp_path, db_url):
    config = load_config(env={}, var_dir=tmp_path, testing=True, admin_token=TOKEN, apps=["finance_monitor"], database_url=db_url)
    plugin = Plugin(name="finance_monitor", title="Finance monitor", description="test", blueprint=make_blueprint(monitor),
                    url_prefix="/finance", api_spec=api_spec)
    return build_app(config, [plugin]).test_client()


@pytest.fixture
def monitor(db_url, tmp_path):
    monitor = monitor_with_demo_model(db_url, tmp_path)
    yield monitor
    monitor.shutdown()


def correct_all_wrongly_read(monitor: Monitor, client) -> list[int]:
    """Each headline corrected through the API to a label the demo model does not give it (so the active model
    scores nothing right on the held-out ones, and a candidate can only be as good or better)."""
    ids = add_articles(monitor, HEADLINES)
    assert monitor.process_pending() == len(HEADLINES)
    read = monitor.sentiment.score_headlines(HEADLINES)
    for article_id, sentiment in zip(ids, read):
        label = "positive" if sentiment.label != "positive" else "neutral"
        response = client.post(f"/finance/api/articles/{article_id}/sentiment", json={"label": label, "by": "ana"}, headers=ADMIN)
        assert response.status_code == 201 and response.json["label"] == label and response.json["learned_at"] is None
    return ids


def test_corrections_are_stored_through_the_admin_api_and_the_topic_page(db_url, tmp_path):
    from .monitor_helpers import make_monitor

    monitor = make_monitor(db_url, SECTION, clock=lambda: NOW)
    [article_id] = add_articles(monitor, ["Northbank shares plunge after fraud probe"])
    monitor.process_pending()
    client = client_for(monitor, tmp_path, db_url)
    url = f"/finance/api/articles/{article_id}/sentiment"

    assert client.post(url, json={"label": "neutral"}).status_code == 401
    assert client.post(url, json={"label": "neutral"}, headers={"Authorization": "Bearer wrong"}).status_code == 401
    bad = client.post(url, json={"label": "bearish"}, headers=ADMIN)
    assert bad.status_code == 400 and "label" in bad.get_data(as_text=True)
    assert client.post("/finance/api/articles/999999/sentiment", json={"label": "neutral"}, headers=ADMIN).status_code == 404
    assert monitor.store.corrections() == [] and monitor.store.unlearned_corrections() == 0

    done = client.post(url, json={"label": "neutral", "by": "ana"}, headers=ADMIN)
    assert done.status_code == 201
    assert done.json["article_id"] == article_id and done.json["corrected_by"] == "ana" and done.json["created_at"] == "2026-05-20T15:30:00Z"
    # The topic page offers the same correction as a small form per headline; the newest correction counts.
    page = client.get("/finance/topics/general-market").get_data(as_text=True)
    assert f'action="/finance/articles/{article_id}/sentiment"' in page
    form = client.post(f"/finance/articles/{article_id}/sentiment", data={"token": TOKEN, "label": "negative", "topic": "general-market"})
    assert form.status_code == 303 and form.headers["Location"].endswith(f"/finance/topics/general-market#article-{article_id}")
    assert [(r["article_id"], r["label"], r["title"]) for r in monitor.store.corrections()] == [
        (article_id, "negative", "Northbank shares plunge after fraud probe")]
    assert monitor.store.unlearned_corrections() == 2
    # The stored score is the model's; a correction is training data.
    assert monitor.store.articles_by_id([article_id])[0]["sentiment"] == "negative"
    paths = client.get("/finance/api/openapi/openapi.json").json["paths"]
    assert "post" in paths["/finance/api/articles/{article_id}/sentiment"]


def test_retraining_without_corrections_trains_nothing(monitor):
    before = monitor.model_version
    assert monitor.retrain() == {"status": "nothing to learn"}
    assert monitor.model_version == before and monitor._model_store().versions() == []


def test_retraining_promotes_a_candidate_that_is_not_worse_and_the_monitor_scores_with_it(monitor, db_url, tmp_path):
    other_process = monitor_with_demo_model(db_url, tmp_path)  # a second server on the same var_dir
    demo_version = monitor.model_version
    correct_all_wrongly_read(monitor, client_for(monitor, tmp_path, db_url))

    report = monitor.retrain()

    assert report["status"] == "promoted", report
    assert report["corrections"] == 8 and report["held_out"] >= 1 and report["learned_from"] + report["held_out"] == 8
    assert report["old_accuracy"] == 0.0 and report["new_accuracy"] >= 0.0
    store = monitor._model_store()
    assert store.active().name == report["version"] == monitor.model_version != demo_version
    assert (onnx_dir(store.active()) / "manifest.json").is_file()  # it serves as ONNX, like a trained model
    assert monitor.sentiment.classifier.__class__.__name__ != "TextClassifier"
    [new_id] = add_articles(monitor, ["Pellmark Energy announces a board meeting"])
    assert monitor.process_pending() == 1
    assert monitor.store.articles_by_id([new_id])[0]["model"] == report["version"]
    assert monitor.store.unlearned_corrections() == 0 and monitor.retrain() == {"status": "nothing to learn"}

    other_process.watcher.check()  # what its watcher thread does every 2 s (and may have done already)
    deadline = time.monotonic() + 10
    while other_process.model_version != report["version"] and time.monotonic() < deadline:
        time.sleep(0.05)  # its thread may be loading it right now
    assert other_process.model_version == report["version"]
    other_process.shutdown()
    assert monitor_with_demo_model(db_url, tmp_path).model_version == report["version"]  # and after a restart


def test_a_worse_candidate_is_kept_on_disk_but_not_activated(monitor, db_url, tmp_path):
    demo_version = monitor.model_version
    correct_all_wrongly_read(monitor, client_for(monitor, tmp_path, db_url))

    report = monitor.retrain(tolerance=-1.5)  # the candidate must beat the active model by more than is possible

    assert report["status"] == "kept the active model"
    store = monitor._model_store()
    assert store.active() is None and len(store.versions()) == 1
    assert monitor.model_version == demo_version
    assert monitor.store.unlearned_corrections() == len(HEADLINES)  # still to learn, at the next run


def test_a_version_serves_from_its_onnx_folder_or_where_older_versions_kept_their_export(tmp_path):
    from finance_monitor.models import legacy_onnx_dir, serving_path

    version = tmp_path / "models" / "demo-sentiment-abc" / "v1"
    version.mkdir(parents=True)
    assert serving_path(version) == version  # no export: the version itself
    legacy_onnx_dir(version).mkdir(parents=True)
    (legacy_onnx_dir(version) / "manifest.json").write_text('{"kind": "onnx-classifier"}')
    assert serving_path(version) == tmp_path / "models" / "demo-sentiment-abc-onnx" / "v1"
    onnx_dir(version).mkdir()
    (onnx_dir(version) / "manifest.json").write_text('{"kind": "onnx-classifier"}')
    assert serving_path(version) == version / "onnx"


def test_an_onnx_export_configured_as_the_model_cannot_be_retrained(db_url, tmp_path):
    from shared.errors import ConfigError

    from .monitor_helpers import make_monitor

    exported = tmp_path / "sentiment-onnx"
    exported.mkdir()
    (exported / "manifest.json").write_text('{"kind": "onnx-classifier", "files": {}}')
    monitor = make_monitor(db_url, {**SECTION, "sentiment_model": str(exported)}, clock=lambda: NOW, var_dir=tmp_path)
    [article_id] = add_articles(monitor, ["Northbank opens a branch"])
    monitor.store.correct_sentiment(article_id, "positive", "ana")
    with pytest.raises(ConfigError, match="sentiment_model: .* is an ONNX export"):
        monitor.retrain()


def test_troika_finance_retrain_learns_now_and_keeps_only_the_newest_versions(monitor, db_url, tmp_path, capsys):
    from finance_monitor.retraining import KEEP_VERSIONS
    from shared.artifacts import write_manifest
    from shared.cli import main

    correct_all_wrongly_read(monitor, client_for(monitor, tmp_path, db_url))
    store = monitor._model_store()
    for name in ("20200101T000000Z-old1", "20200102T000000Z-old2", "20200103T000000Z-old3"):  # versions of earlier runs
        (store.root / name).mkdir(parents=True)
        write_manifest(store.root / name, "text-classifier")
        onnx_dir(store.root / name).mkdir(parents=True)
    config = tmp_path / "troika.toml"
    config.write_text(f'var_dir = "{tmp_path}"\ndatabase_url = "{db_url}"\n\n[finance_monitor]\n'
                      f'admin_token = "{TOKEN}"\ntopic_threshold = false\nscheduler = false\n')

    assert main(["--quiet", "finance", "retrain", "--config", str(config)]) == 0

    summary = capsys.readouterr().out
    assert "retrain: promoted" in summary and "corrections 8" in summary
    versions = store.versions()
    assert len(versions) == KEEP_VERSIONS and store.active().name == versions[-1]
    assert not (store.root / "20200101T000000Z-old1").exists() and not onnx_dir(store.root / "20200101T000000Z-old1").exists()
    assert monitor.store.unlearned_corrections() == 0
    assert main(["--quiet", "finance", "retrain", "--config", str(config)]) == 0
    assert "retrain: nothing to learn" in capsys.readouterr().out
