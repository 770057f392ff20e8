"""The visitors' API the widget calls: chat, Rasa's REST channel, a session's history, feedback on a reply.

Open (sessions are unguessable tokens) and rate limited per client; CORS answers the configured
origins only (``make_blueprint``).
"""

from __future__ import annotations

import hashlib

from flask import jsonify

from shared.errors import NotFoundError
from shared.route_groups import RouteGroup, documented_as
from shared.web import json_body, query_args

from ..service import WAITING_TEXT
from .schemas import ChatIn, ChatOut, Created, FeedbackIn, HistoryOut, HistoryQuery, RasaIn, RasaOut, handoff_out, turn_out
from .state import current_chats, current_service, limit_chat

routes = RouteGroup("chat")


@routes.post("/api/chat")
@documented_as(body=ChatIn, response=ChatOut, errors=(400, 404, 413, 415, 429))
def chat():
    limit_chat()
    body = json_body(ChatIn)
    exchange = current_service().send(body.session_id, body.message, client_id=body.client_id)
    reply = turn_out(exchange.reply) if exchange.reply else None
    return jsonify(ChatOut(
        session_id=exchange.message.session_id,
        reply=reply and reply["text"], path=reply and reply["path"], intent=reply and reply["intent"],
        confidence=reply and reply["confidence"], choices=reply["choices"] if reply else [],
        sources=reply["sources"] if reply else [], message=turn_out(exchange.message), turn=reply,
        handoff=handoff_out(exchange.handoff) if exchange.handoff else None,
        notice=WAITING_TEXT if reply is None else None,
    ).model_dump(mode="json"))


@routes.post("/webhooks/rest/webhook")
@documented_as(body=RasaIn, response=list[RasaOut], errors=(400, 413, 415, 429), tags=["rasa"])
def rasa_rest():
    """Rasa's REST channel: clients built for a Rasa bot talk to this one unchanged."""
    limit_chat()
    body = json_body(RasaIn)
    # Rasa senders are the client's own conversation ids; ours are derived from them, stably.
    session_id = current_chats().start({"channel": "rasa"}, session_id="rasa-" + hashlib.sha256(body.sender.encode()).hexdigest()[:40])
    exchange = current_service().send(session_id, body.message)
    text = exchange.reply.text if exchange.reply else WAITING_TEXT
    choices = (exchange.reply.details or {}).get("choices", []) if exchange.reply else []
    out = {"recipient_id": body.sender, "text": text}
    if choices:
        out["buttons"] = [{"title": c, "payload": c} for c in choices]
    return jsonify([out])


@routes.get("/api/sessions/<session_id>/messages")
@documented_as(query=HistoryQuery, response=HistoryOut, errors=(400, 404))
def history(session_id):
    query = query_args(HistoryQuery)
    chats = current_chats()
    turns = chats.history(session_id, after=query.after)
    return jsonify(status=chats.session(session_id)["status"], messages=[turn_out(t) for t in turns])


@routes.post("/api/sessions/<session_id>/feedback")
@documented_as(body=FeedbackIn, response=Created, status=201, errors=(400, 404, 413, 415))
def feedback(session_id):
    body = json_body(FeedbackIn)
    chats = current_chats()
    # A visitor may rate replies of their own session only.
    if body.turn_id not in {t.id for t in chats.history(session_id) if t.role == "bot"}:
        raise NotFoundError(f"no bot reply {body.turn_id} in this session")
    feedback_id = chats.add_feedback(body.turn_id, "visitor", helpful=body.helpful, comment=body.comment)
    return jsonify(id=feedback_id), 201
