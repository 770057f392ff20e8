"""The dashboard blueprint: the pages' and the API's module-level views (``shared.route_groups``) on one
blueprint per monitor.

The blueprint serves the monitor's :class:`~finance_monitor.web.dashboard.DashboardData` to its app
(``shared.web.serve``), where every view reads it, and puts the monitor's Prometheus collector into
the app's ``/metrics``::

    bp = make_blueprint(monitor)
    Plugin(..., blueprint=bp, url_prefix="/finance", api_spec=api_spec)
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint

from shared.prometheus import add_metrics_collector
from shared.web import serve

from .api import api_spec
from .api import routes as api_routes
from .dashboard import KEY, DashboardData
from .metrics import MonitorCollector
from .pages import PagePath, fm_time
from .pages import routes as page_routes

PACKAGE = Path(__file__).resolve().parent.parent  # templates/ and static/ sit at the package top


def make_blueprint(monitor) -> Blueprint:
    """The dashboard and API blueprint (mount it under /finance); document it with :data:`api.api_spec`."""
    bp = Blueprint("finance_monitor", __name__, root_path=str(PACKAGE), template_folder="templates", static_folder="static",
                   static_url_path="/static/finance_monitor")
    data = DashboardData(monitor)
    bp.api_spec = api_spec
    api_spec.__dict__.pop("_spec", None)  # a new blueprint: describe its app's routes afresh
    serve(bp, KEY, data, getattr(monitor, "config", None) or {})
    bp.record_once(lambda state: add_metrics_collector(state.app, MonitorCollector(data)))
    # Before any route is recorded, so the catch-all page route finds its converter.
    bp.record_once(lambda state: state.app.url_map.converters.setdefault("fm_page", PagePath))
    bp.add_app_template_filter(fm_time, "fm_time")
    page_routes.register(bp, api_spec)
    api_routes.register(bp, api_spec)
    return bp
