"""The API's route groups (``shared.route_groups``): every documented route needs the key and is rate limited.

Each resource module holds one group of module-level views::

    routes = resource_routes("users")

    @routes.post("/api/user")
    @documented_as(body=UserIn, response=Affected, errors=(400, 401, 403, 413, 415))
    def insert_user(): ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from shared import route_groups

KEY = {"api_key": []}  # the OpenAPI security scheme of every documented route: X-API-Key
RATE_LIMITED = 429  # every documented route is behind the rate limit


def resource_routes(tag: str) -> route_groups.RouteGroup:
    """The group of one resource's routes, tagged ``tag`` in the OpenAPI description."""
    return route_groups.RouteGroup(tag, security=KEY)


def documented_as(*, errors: Iterable[int], **description: Any) -> Callable:
    """Describe a view for the OpenAPI spec (``shared.route_groups.documented_as``), 429 among its errors."""
    return route_groups.documented_as(errors=(*errors, RATE_LIMITED), **description)
