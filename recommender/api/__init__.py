"""The recommendation REST API, compatible with gorse's: same paths, JSON field names and X-API-Key.

A team on gorse points its SDK at ``http://host:8000/rec`` and changes nothing else. Beyond
gorse, every response says which source produced it in the ``X-Troika-Source`` header
(gorse's JSON shapes leave no room), ``GET /api/items?q=`` searches item text by meaning, and
``POST /api/score`` scores given candidates for a user (re-ranking an impression).
The key is closed when unset (gorse answers everyone when its key is empty; we refuse). Each
client (remote address) gets at most ``[recommender] rate_limit`` API requests, then 429 with
Retry-After; health and the OpenAPI description are neither keyed nor limited.

One module per resource (``health``, ``users``, ``items``, ``feedback``, ``recommend``), each
a group of module-level views (``routes``); the bodies are ``schemas``, the conversions
``wire``, the key and limit ``guard``. Views find the service through ``blueprint_state``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint

from shared.openapi import api_spec

from ..blueprint_state import attach
from ..page import register_page
from ..service import RecommenderService
from ..settings import DEFAULT_RATE_LIMIT
from . import feedback, health, items, recommend, users
from .guard import require_key
from .wire import SOURCE_HEADER

__all__ = ["DEFAULT_RATE_LIMIT", "SOURCE_HEADER", "make_blueprint"]

RESOURCES = (health, users, items, feedback, recommend)  # in this order in the OpenAPI description


def make_blueprint(service: RecommenderService, *, settings: Mapping[str, Any] | None = None) -> tuple[Blueprint, Any]:
    """The API blueprint (mounted at /rec) serving ``service``, and its OpenAPI spec (/rec/api/openapi/openapi.json).

    ``settings``: the ``[recommender]`` table (``api_key``, ``rate_limit``).
    """
    bp = Blueprint("recommender_api", __name__)
    spec = api_spec("troika recommendation API (gorse-compatible)", path="rec/api/openapi",
                    description="gorse's REST API (users, items, feedback, recommend, neighbors, session, popular) with text-aware ranking.")
    attach(bp, service, settings or {})
    bp.before_request(require_key)
    register_page(bp)  # GET / : the demo page (recommender/page.py)
    for resource in RESOURCES:
        resource.routes.register(bp, spec)
    return bp, spec
