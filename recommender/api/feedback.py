"""Feedback: insert (overwriting or keeping what exists), list by cursor or per user, delete."""

from __future__ import annotations

from flask import jsonify

from shared.web import json_body, query_args

from ..blueprint_state import current_service
from .routes import documented_as, resource_routes
from .schemas import Affected, FeedbackCursor, FeedbackList, FeedbackOut, FeedbackPageOut
from .wire import affected, as_feedback, feedback_out

routes = resource_routes("feedback")
POSTED = dict(body=FeedbackList, response=Affected, errors=(400, 401, 403, 404, 413, 415))


def _insert_feedback(overwrite: bool):
    records = [as_feedback(f) for f in json_body(FeedbackList).root]
    return affected(current_service().add_feedback(records, overwrite=overwrite))


@routes.post("/api/feedback")
@documented_as(**POSTED)
def insert_feedback():
    """Insert feedback; feedback that exists (same type, user, item) is overwritten."""
    return _insert_feedback(overwrite=True)


@routes.put("/api/feedback")
@documented_as(**POSTED)
def put_feedback():
    """Insert feedback; feedback that exists is kept as it was."""
    return _insert_feedback(overwrite=False)


@routes.get("/api/feedback")
@documented_as(query=FeedbackCursor, response=FeedbackPageOut, errors=(400, 401, 403))
def list_feedback():
    args = query_args(FeedbackCursor)
    page, cursor = current_service().catalogue.feedback_page(n=args.n, cursor=args.cursor)
    return jsonify(Cursor=cursor, Feedback=[feedback_out(f) for f in page])


@routes.get("/api/user/<user_id>/feedback")
@routes.get("/api/user/<user_id>/feedback/<feedback_type>")
@documented_as(response=list[FeedbackOut], errors=(401, 403))
def user_feedback(user_id, feedback_type=None):
    return jsonify([feedback_out(f) for f in current_service().catalogue.user_feedback(user_id, feedback_type)])


@routes.delete("/api/feedback/<user_id>/<item_id>")
@documented_as(response=Affected, errors=(401, 403))
def delete_feedback(user_id, item_id):
    return affected(current_service().catalogue.delete_feedback(user_id, item_id))
