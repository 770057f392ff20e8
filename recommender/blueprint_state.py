"""How the recommender's views (module-level functions, flaskr's style) find what they serve.

``make_blueprint`` records the service and the ``[recommender]`` settings on the blueprint
(``shared.web.serve``); Flask hands them to the app that registers it, in ``app.extensions``, and
a view reads them back through ``current_service()`` and ``current_settings()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint

from shared.web import serve, served

from .service import RecommenderService

EXTENSION = "troika.recommender"


def attach(bp: Blueprint, service: RecommenderService, settings: Mapping[str, Any]) -> None:
    """Have every app that registers ``bp`` serve ``service`` with ``settings``."""
    serve(bp, EXTENSION, service, settings)


def current_service() -> RecommenderService:
    """The service of the app handling this request."""
    return served(EXTENSION).service


def current_settings() -> Mapping[str, Any]:
    """The ``[recommender]`` settings of the app handling this request (``api_key``, ``rate_limit``)."""
    return served(EXTENSION).settings
