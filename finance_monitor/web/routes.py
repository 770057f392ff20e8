"""The dashboard's routes, declared beside their module-level view functions and added to each blueprint.

A blueprint is made per monitor (``blueprint.make_blueprint``), so views are not decorated with one
module-level blueprint; they are listed in a :class:`Routes` table the blueprint adds them from, and
read the monitor's data through :func:`dashboard` (the app's ``extensions``)::

    routes = Routes()

    @routes.get("/alerts")
    def alerts_page(): ...

    routes.add_to(bp)
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, current_app

EXTENSION = "finance_monitor.dashboard"  # app.extensions[EXTENSION]: the DashboardData the views read


def dashboard():
    """The :class:`~finance_monitor.web.dashboard.DashboardData` of the app handling this request."""
    return current_app.extensions[EXTENSION]


class Routes:
    def __init__(self):
        self.rules: list[tuple[str, Callable, tuple[str, ...]]] = []

    def get(self, rule: str) -> Callable[[Callable], Callable]:
        return self._route(rule, "GET")

    def post(self, rule: str) -> Callable[[Callable], Callable]:
        return self._route(rule, "POST")

    def _route(self, rule: str, method: str) -> Callable[[Callable], Callable]:
        def add(view: Callable) -> Callable:
            self.rules.append((rule, view, (method,)))
            return view

        return add

    def add_to(self, bp: Blueprint) -> None:
        for rule, view, methods in self.rules:
            bp.add_url_rule(rule, view_func=view, methods=list(methods))
