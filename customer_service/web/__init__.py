"""The support bot's HTTP face: the chat API the widget calls, the widget itself, and the agents' admin API.

Flask only at the edge: every view parses and validates, calls ``ChatService`` or
``Conversations``, and shapes JSON. Visitors' routes are open (sessions are unguessable
tokens) and answer CORS for the configured origins only; admin routes need the admin token.

One module per audience, each a group of module-level views (``shared.route_groups``):
``pages`` (home, agents' console, widget.js), ``chat`` (the visitors' API) and ``agents`` (the
admin API); the bodies are ``schemas``. Views find the service through ``state``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flask import Blueprint
from flask_cors import CORS

from shared.openapi import api_spec
from shared.web import serve

from ..service import ChatService
from . import agents, chat, pages
from .state import EXTENSION

__all__ = ["make_blueprint"]

AUDIENCES = (pages, chat, agents)  # in this order in the URL map and the OpenAPI description
PACKAGE = "customer_service"  # the blueprint's templates and static files are the package's, not this module's


def make_blueprint(service: ChatService, *, cors_origins: Sequence[str] = (), settings: Mapping | None = None) -> tuple[Blueprint, object]:
    """The app's blueprint and its OpenAPI spec (served at /cs/api/openapi/openapi.json under the suite).

    ``settings``: the app's troika.toml table (``rate_limit``); ``cors_origins``: the sites
    whose pages may call the visitors' API (the widget embedded there).
    """
    bp = Blueprint("customer_service", PACKAGE, template_folder="templates", static_folder="static",
                   static_url_path="/static/customer_service")
    spec = api_spec("troika support chat API", path="cs/api/openapi",
                    description="The chat widget's API and the agents' handoff API of troika's support bot.")
    serve(bp, EXTENSION, service, settings or {})
    if cors_origins:
        # The visitors' API only; the admin API is never callable from other sites.
        CORS(bp, resources={r".*/(api/chat|api/sessions/.*|webhooks/rest/webhook)$": {"origins": list(cors_origins)}},
             methods=["GET", "POST"], allow_headers=["Content-Type"], max_age=600)
    for audience in AUDIENCES:
        audience.routes.register(bp, spec)
    return bp, spec
