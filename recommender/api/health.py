"""gorse's health probes: neither keyed nor rate limited (see ``guard``)."""

from __future__ import annotations

from flask import jsonify

from ..blueprint_state import current_service
from .routes import resource_routes

routes = resource_routes("health")


@routes.get("/api/health/live")
def live():
    return jsonify(Ready=True, Live=True)


@routes.get("/api/health/ready")
def ready():
    if current_service().ready:
        return jsonify(Ready=True), 200
    return jsonify(Ready=False, error={"code": "not_ready", "message": "no items indexed yet"}), 503
