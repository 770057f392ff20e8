"""Prometheus metrics at ``/metrics`` (prometheus-client), one registry per app, apps adding their own collectors.

``shared.web.create_app`` serves the registry; an app adds collectors when its blueprint is
registered, so nothing here knows any app::

    bp.record_once(lambda state: add_metrics_collector(state.app, MyCollector(store)))

A collector's ``collect()`` runs on every scrape, so it should read state that is cheap to
count (a few grouped queries), and yield its families; see prometheus-client's "custom
collectors". The registry also holds the process and platform collectors.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, PlatformCollector, ProcessCollector, generate_latest

EXTENSION = "troika.metrics"

metrics = Blueprint("metrics", __name__)


def metrics_registry(app: Flask) -> CollectorRegistry:
    """The app's registry (made on first use, with process and platform metrics)."""
    registry = app.extensions.get(EXTENSION)
    if registry is None:
        registry = app.extensions[EXTENSION] = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
    return registry


def add_metrics_collector(app: Flask, collector) -> None:
    """Serve ``collector``'s metrics at the app's /metrics."""
    metrics_registry(app).register(collector)


@metrics.get("/metrics")
def serve_metrics():
    body = generate_latest(metrics_registry(current_app))
    return current_app.response_class(body, mimetype=None, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})
