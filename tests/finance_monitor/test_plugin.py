"""`troika run` hosts the monitor: on a fresh machine it serves /finance with the demo's data and its alert."""

import tomllib

import pytest

from finance_monitor.plugin import make_plugin
from shared.config import Config, load_config
from shared.errors import ConfigError
from shared.server import build_app
from tests.finance_monitor.monitor_helpers import with_demo_model


@pytest.fixture
def served(tmp_path, db_url):
    with_demo_model(tmp_path)  # the demo model as the first start would train it, without training it again here
    config = load_config(env={}, var_dir=tmp_path, database_url=db_url, testing=True, apps=["finance_monitor"])
    plugin = make_plugin(config)
    plugin.prepare()
    yield plugin, build_app(config, [plugin]).test_client()
    plugin.state.shutdown()


def test_a_fresh_start_serves_the_dashboard_with_demo_data_and_a_firing_alert(served):
    plugin, client = served
    monitor = plugin.state
    assert client.get("/finance/").status_code == 200
    assert client.get("/health/ready").status_code == 200
    assert monitor.store.count_articles() == 58
    assert "banks" in {a["topic"] for a in monitor.store.alerts(state="firing")}
    assert monitor.scheduler is not None and monitor.scheduler.running
    assert {j["id"] for j in monitor.scheduler.jobs()} == {"source:demo", "detect"}
    ok, detail = plugin.ready()
    assert ok and "scheduler running" in detail


def test_the_demo_feed_is_served_as_rss(served):
    _, client = served
    response = client.get("/finance/demo/feed.xml")
    assert response.status_code == 200 and response.mimetype == "application/rss+xml"
    assert b"Harbourline Bank" in response.data


def test_a_bad_finance_table_stops_the_server_before_it_starts(tmp_path):
    config = Config(var_dir=tmp_path, testing=True, sections={"finance_monitor": tomllib.loads('bucket = "fortnight"')})
    with pytest.raises(ConfigError, match="finance_monitor.bucket"):
        make_plugin(config)


def test_a_second_server_process_on_the_same_database_serves_without_a_scheduler(served, tmp_path, db_url):
    first, _ = served
    config = load_config(env={}, var_dir=tmp_path, database_url=db_url, testing=True, apps=["finance_monitor"])
    second = make_plugin(config)
    second.prepare()  # same data, already stored: nothing is added twice
    try:
        ok, detail = second.ready()
        assert ok and "scheduler run by another process" in detail
        assert first.state.scheduler.running and first.state.store.count_articles() == 58
    finally:
        second.state.shutdown()
