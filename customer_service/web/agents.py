"""The agents' API: the handoff queue, a handoff's transcript, claim, reply, resolve, and intent corrections.

Every route needs the admin token (``shared.web.require_admin``) and is never callable from other sites.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import jsonify

from shared.route_groups import RouteGroup, documented_as
from shared.web import json_body, query_args, require_admin

from ..conversations import Handoff
from .schemas import (
    ADMIN,
    AgentIn,
    AgentReplyIn,
    CorrectionIn,
    Created,
    HandoffDetailOut,
    HandoffOut,
    HandoffsOut,
    HandoffsQuery,
    TurnOut,
    handoff_out,
    turn_out,
)
from .state import current_chats

routes = RouteGroup("handoffs", security=ADMIN)
BY_AGENT = dict(body=AgentIn, response=HandoffOut, errors=(400, 401, 403, 404, 409, 415))  # claim and resolve


def _by_agent(change: Callable[[int, str], Handoff], handoff_id: int):
    """The handoff after ``change`` (claim or resolve) by the agent the body names."""
    return jsonify(handoff_out(change(handoff_id, json_body(AgentIn).agent)))


@routes.get("/admin/handoffs")
@documented_as(query=HandoffsQuery, response=HandoffsOut, errors=(400, 401, 403))
@require_admin
def list_handoffs():
    query = query_args(HandoffsQuery)
    return jsonify(handoffs=[handoff_out(h) for h in current_chats().handoffs(query.status)])


@routes.get("/admin/handoffs/<int:handoff_id>")
@documented_as(response=HandoffDetailOut, errors=(401, 403, 404))
@require_admin
def show_handoff(handoff_id):
    chats = current_chats()
    handoff = chats.handoff(handoff_id)
    return jsonify(handoff=handoff_out(handoff), transcript=[turn_out(t) for t in chats.history(handoff.session_id)])


@routes.post("/admin/handoffs/<int:handoff_id>/claim")
@documented_as(**BY_AGENT)
@require_admin
def claim(handoff_id):
    return _by_agent(current_chats().claim, handoff_id)


@routes.post("/admin/handoffs/<int:handoff_id>/reply")
@documented_as(body=AgentReplyIn, response=TurnOut, status=201, errors=(400, 401, 403, 404, 409, 415))
@require_admin
def agent_reply(handoff_id):
    body = json_body(AgentReplyIn)
    return jsonify(turn_out(current_chats().agent_reply(handoff_id, body.agent, body.text))), 201


@routes.post("/admin/handoffs/<int:handoff_id>/resolve")
@documented_as(**BY_AGENT)
@require_admin
def resolve(handoff_id):
    return _by_agent(current_chats().resolve, handoff_id)


@routes.post("/admin/turns/<int:turn_id>/correction")
@documented_as(body=CorrectionIn, response=Created, status=201, errors=(400, 401, 403, 404, 415), tags=["feedback"])
@require_admin
def correct(turn_id):
    body = json_body(CorrectionIn)
    return jsonify(id=current_chats().add_feedback(turn_id, "admin", correct_intent=body.intent, comment=body.comment)), 201
