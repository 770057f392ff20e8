"""How the recommender's views (module-level functions, flaskr's style) find what they serve.

``make_blueprint`` records the service and the ``[recommender]`` settings on the blueprint; Flask
hands them to the app that registers it, in ``app.extensions``, and a view reads them back
through ``current_service()`` and ``current_settings()``. So each app (a test makes many) serves
its own service, and no view is a closure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app

from .service import RecommenderService

EXTENSION = "troika.recommender"


@dataclass(frozen=True)
class Served:
    service: RecommenderService
    settings: Mapping[str, Any]


def attach(bp: Blueprint, service: RecommenderService, settings: Mapping[str, Any]) -> None:
    """Have every app that registers ``bp`` serve ``service`` with ``settings``."""
    served = Served(service, settings)
    bp.record_once(lambda state: state.app.extensions.__setitem__(EXTENSION, served))


def current_service() -> RecommenderService:
    """The service of the app handling this request."""
    return current_app.extensions[EXTENSION].service


def current_settings() -> Mapping[str, Any]:
    """The ``[recommender]`` settings of the app handling this request (``api_key``, ``rate_limit``)."""
    return current_app.extensions[EXTENSION].settings
