"""How ``troika run`` hosts the finance monitor: its tables, its monitor and scheduler, its dashboard under /finance.

``make_plugin`` checks ``[finance_monitor]`` of troika.toml (every key: ``finance_monitor/settings.py``)
and builds the :class:`~finance_monitor.pipeline.Monitor` without loading models; ``prepare``
migrates the database, loads the sentiment model (on a fresh machine: trains the demo model in
fast mode, seconds), polls the replay sources once and runs a detection pass, so the dashboard has
data and the demo's alert at once, then starts the scheduler (one per deployment: a second server
process finds the lock taken and serves without one) and stops it cleanly at exit.

The dashboard is ``finance_monitor.web.make_blueprint(monitor)``; until that module exists a
one-page list of alerts stands in. Either way ``/finance/demo/feed.xml`` serves the demo feed as RSS.
"""

from __future__ import annotations

import atexit
import datetime as dt
import importlib
import logging

from flask import Blueprint, Response, render_template_string

from shared.config import Config
from shared.server import Plugin

from .ingest.demo_feed import demo_feed
from .pipeline import Monitor

log = logging.getLogger(__name__)


def _dashboard(monitor: Monitor):
    """(blueprint, api spec) of ``finance_monitor.web`` when it is installed, else the stand-in page."""
    try:
        web = importlib.import_module("finance_monitor.web")
    except ModuleNotFoundError as exc:
        if exc.name != "finance_monitor.web":
            raise
        return fallback_blueprint(monitor), None
    made = web.make_blueprint(monitor)
    if isinstance(made, tuple):
        return made[0], made[1]
    spec = getattr(web, "api_spec", None)
    return made, spec if hasattr(spec, "register") else None


def fallback_blueprint(monitor: Monitor) -> Blueprint:
    bp = Blueprint("finance_monitor", __name__)

    @bp.get("/")
    def alerts_page():
        return render_template_string(ALERTS_PAGE, alerts=monitor.store.alerts(limit=50), articles=monitor.store.count_articles())

    return bp


def _add_demo_feed(blueprint: Blueprint) -> None:
    def feed():
        return Response(demo_feed(dt.datetime.now(dt.UTC)), mimetype="application/rss+xml")

    try:
        blueprint.add_url_rule("/demo/feed.xml", endpoint="troika_demo_feed", view_func=feed, methods=["GET"])
    except (AssertionError, ValueError):  # the dashboard already has that endpoint, or was registered already
        log.debug("demo feed route not added")


def make_plugin(config: Config) -> Plugin:
    monitor = Monitor.from_config(config, load_models=False)  # a bad [finance_monitor] table fails here, before serving
    blueprint, spec = _dashboard(monitor)
    _add_demo_feed(blueprint)
    status = {"scheduler": "not started"}

    def prepare() -> None:
        monitor.prepare(progress=True)
        monitor.catch_up()
        if not monitor.settings.scheduler:
            status["scheduler"] = "off ([finance_monitor] scheduler = false)"
            return
        if monitor.start():
            status["scheduler"] = "running"
            atexit.register(monitor.shutdown)
        else:
            status["scheduler"] = "run by another process"

    def ready() -> tuple[bool, str]:
        if not monitor.ready:
            return False, "the sentiment model is still loading"
        return True, f"sentiment model {monitor.model_version} loaded; scheduler {status['scheduler']}"

    return Plugin(name="finance_monitor", title="Finance news monitor",
                  description="Scrapes news feeds, scores each article's sentiment and topics, and alerts when negative news spikes.",
                  blueprint=blueprint, url_prefix="/finance", prepare=prepare, ready=ready, api_spec=spec, state=monitor)


ALERTS_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Finance news monitor</title><link rel="stylesheet" href="{{ url_for('static', filename='troika.css') }}"></head>
<body><main>
<h1>Finance news monitor</h1>
<p>{{ articles }} articles stored. Alerts, newest first:</p>
{% if alerts %}
<table class="alerts">
<thead><tr><th>topic</th><th>state</th><th>severity</th><th>started</th><th>resolved</th><th>negative / total</th><th>top negative headlines</th></tr></thead>
<tbody>
{% for a in alerts %}
<tr class="{{ a.state }}"><td>{{ a.topic }}</td><td>{{ a.state }}</td><td>{{ a.severity }}</td>
<td>{{ a.started_at.isoformat() }}</td><td>{{ a.resolved_at.isoformat() if a.resolved_at else "" }}</td>
<td>{{ a.evidence.negative }} / {{ a.evidence.total }}</td>
<td><ul>{% for h in a.evidence.top_negative_headlines or [] %}<li>{{ h }}</li>{% endfor %}</ul></td></tr>
{% endfor %}
</tbody></table>
{% else %}
<p>No alert yet.</p>
{% endif %}
</main></body></html>
"""
