"""The dashboard blueprint: the pages' and the API's module-level views on one blueprint per monitor.

The blueprint puts the monitor's :class:`~finance_monitor.web.dashboard.DashboardData` into its app's
``extensions`` (``routes.EXTENSION``), where every view reads it, and the monitor's Prometheus
collector into the app's ``/metrics``::

    bp = make_blueprint(monitor)
    Plugin(..., blueprint=bp, url_prefix="/finance", api_spec=api_spec)
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint

from shared.prometheus import add_metrics_collector

from . import api, pages
from .dashboard import DashboardData
from .metrics import MonitorCollector
from .routes import EXTENSION

PACKAGE = Path(__file__).resolve().parent.parent  # templates/ and static/ sit at the package top


def make_blueprint(monitor) -> Blueprint:
    """The dashboard and API blueprint (mount it under /finance); document it with :data:`api.api_spec`."""
    bp = Blueprint("finance_monitor", __name__, root_path=str(PACKAGE), template_folder="templates", static_folder="static",
                   static_url_path="/static/finance_monitor")
    data = DashboardData(monitor)
    bp.api_spec = api.api_spec
    api.api_spec.__dict__.pop("_spec", None)  # a new blueprint: describe its app's routes afresh
    bp.record_once(lambda state: state.app.extensions.__setitem__(EXTENSION, data))
    bp.record_once(lambda state: add_metrics_collector(state.app, MonitorCollector(data)))
    # Before any route is recorded, so the catch-all page route finds its converter.
    bp.record_once(lambda state: state.app.url_map.converters.setdefault("fm_page", pages.PagePath))
    bp.add_app_template_filter(pages.fm_time, "fm_time")
    pages.routes.add_to(bp)
    api.routes.add_to(bp)
    return bp
