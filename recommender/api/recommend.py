"""Recommendations: for a user, for an anonymous session, scores of given candidates (troika's addition), popular items."""

from __future__ import annotations

from flask import request

from shared.web import json_body, query_args

from ..blueprint_state import current_service
from .routes import documented_as, resource_routes
from .schemas import Page, Recommended, Scored, ScoreIn, SessionFeedback
from .wire import as_feedback, scored

routes = resource_routes("recommend")


@routes.get("/api/recommend/<user_id>", strict_slashes=False)
@routes.get("/api/recommend/<user_id>/<category>")
@documented_as(query=Page, response=Recommended, errors=(400, 401, 403, 404))
def recommend(user_id, category=None):
    """Item ids for the user, best first; with ``X-API-Version: 2``, ids with scores (as gorse)."""
    args = query_args(Page)
    recs, source = current_service().recommend(user_id, args.n, offset=args.offset, category=category or None)
    return scored(recs, source, v2=request.headers.get("X-API-Version") == "2")


@routes.post("/api/session/recommend")
@documented_as(query=Page, body=SessionFeedback, response=list[Scored], errors=(400, 401, 403, 404, 413, 415))
def session_recommend():
    args = query_args(Page)
    records = [as_feedback(f) for f in json_body(SessionFeedback).root]
    service = current_service()
    recs = service.session_recommend(records, args.n)
    return scored(recs, recs[0].source if recs else service.cold_source)


@routes.post("/api/score")
@documented_as(body=ScoreIn, response=list[Scored], errors=(400, 401, 403, 404, 413, 415))
def score():
    """Scores of the given items for the user, in the order given (troika's addition, for re-ranking an impression):
    calibrated click probabilities when the source is ``model`` or ``fallback``."""
    body = json_body(ScoreIn)
    recs, source = current_service().score(body.UserId, body.ItemIds)
    return scored(recs, source)


@routes.get("/api/popular", strict_slashes=False)
@routes.get("/api/popular/<category>")
@documented_as(query=Page, response=list[Scored], errors=(400, 401, 403))
def popular(category=None):
    args = query_args(Page)
    return scored(current_service().popular(args.n, offset=args.offset, category=category), "popular")
