"""Route groups: an app's views as module-level functions (flaskr's style), added to each blueprint it builds.

Flask's ``@bp.get`` needs the blueprint when the module is imported; an app that makes a
blueprint (and an OpenAPI spec) per Flask app, as every test does, records its routes in a
group and adds them later::

    users = RouteGroup("users", security={"api_key": []})

    @users.post("/api/user")
    @documented_as(body=UserIn, response=Affected, errors=(400, 401, 403, 413, 415))
    def insert_user(): ...

    users.register(bp, spec)     # in make_blueprint: the routes in the order they were declared

Stacked route decorators record the inner one first, as Flask's do. Views reach their app's
state through ``shared.web.serve`` / ``served``, never a closure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint

from .openapi import documented


def documented_as(*, errors: Iterable[int], tags: Iterable[str] | None = None, **description: Any) -> Callable:
    """Describe a view for the OpenAPI spec (``shared.openapi.documented``'s arguments but the spec; tags: the group's by default)."""

    def describe(view: Callable) -> Callable:
        view.api_description = {"errors": tuple(errors), "tags": tags, **description}
        return view

    return describe


@dataclass(frozen=True)
class Route:
    method: str
    rule: str
    view: Callable
    options: dict


@dataclass
class RouteGroup:
    tag: str
    security: dict | None = None  # the OpenAPI security scheme of the group's documented routes, unless one names its own
    routes: list[Route] = field(default_factory=list)

    def route(self, method: str, rule: str, **options: Any) -> Callable:
        def record(view: Callable) -> Callable:
            self.routes.append(Route(method, rule, view, options))
            return view

        return record

    def get(self, rule: str, **options: Any) -> Callable:
        return self.route("GET", rule, **options)

    def post(self, rule: str, **options: Any) -> Callable:
        return self.route("POST", rule, **options)

    def put(self, rule: str, **options: Any) -> Callable:
        return self.route("PUT", rule, **options)

    def patch(self, rule: str, **options: Any) -> Callable:
        return self.route("PATCH", rule, **options)

    def delete(self, rule: str, **options: Any) -> Callable:
        return self.route("DELETE", rule, **options)

    def register(self, bp: Blueprint, spec) -> None:
        """Add the routes to ``bp``, each documented view described in ``spec``."""
        served: dict[Callable, Callable] = {}  # one wrapped view per function: Flask refuses two under one endpoint
        for route in self.routes:
            if route.view not in served:
                served[route.view] = self._described(route.view, spec)
            bp.add_url_rule(route.rule, view_func=served[route.view], methods=[route.method], **route.options)

    def _described(self, view: Callable, spec) -> Callable:
        description = getattr(view, "api_description", None)
        if description is None:
            return view
        tags = description["tags"] if description["tags"] is not None else [self.tag]
        return documented(spec, **{"security": self.security, **description, "tags": tags})(view)
