"""/metrics on every suite app: prometheus-client's text format, one registry per app, collectors added by apps."""

from flask import Blueprint
from prometheus_client.core import GaugeMetricFamily

from shared.config import load_config
from shared.prometheus import add_metrics_collector
from shared.server import Plugin, build_app


class Widgets:
    def collect(self):
        gauge = GaugeMetricFamily("troika_test_widgets", "Widgets on hand", labels=["colour"])
        gauge.add_metric(["blue"], 3)
        yield gauge


def make(tmp_path, with_collector):
    config = load_config(env={}, var_dir=tmp_path, testing=True, apps=["widgets"])
    bp = Blueprint("widgets", __name__)
    if with_collector:
        bp.record_once(lambda state: add_metrics_collector(state.app, Widgets()))
    return build_app(config, [Plugin(name="widgets", title="Widgets", description="", blueprint=bp, url_prefix="/widgets")])


def test_metrics_are_served_with_the_apps_collectors_and_process_metrics(tmp_path):
    response = make(tmp_path, True).test_client().get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=") and response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    assert 'troika_test_widgets{colour="blue"} 3.0' in text
    assert "python_info" in text


def test_each_app_has_its_own_registry(tmp_path):
    make(tmp_path, True)
    other = make(tmp_path, False).test_client().get("/metrics").get_data(as_text=True)
    assert "troika_test_widgets" not in other
