"""The support bot's HTTP face: the chat API the widget calls, the widget itself, and the agents' admin API.

Flask only at the edge: every view parses and validates, calls ``ChatService`` or
``Conversations``, and shapes JSON. Visitors' routes are open (sessions are unguessable
tokens) and answer CORS for the configured origins only; admin routes need the admin token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence

from flask import Blueprint, jsonify, render_template, request
from flask_cors import CORS
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import NotFoundError
from shared.openapi import api_spec, documented
from shared.web import field_error, json_body, rate_limit, require_admin

from .conversations import MAX_TEXT, Turn
from .service import WAITING_TEXT, ChatService
from .settings import DEFAULT_RATE_LIMIT

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
ADMIN = {"admin_token": []}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChatIn(Strict):
    message: str = Field(min_length=1, max_length=MAX_TEXT)
    session_id: str | None = Field(default=None, pattern=ID_PATTERN, description=(
        "omit to start a new conversation with an id chosen by the server, or name a new one: an unknown id of 16 to 64 "
        "characters of A-Z a-z 0-9 _ - starts that conversation (as a Rasa client's sender does); an unknown shorter id is 404"))
    client_id: str | None = Field(default=None, pattern=ID_PATTERN, description="the widget's id for this message; a resend with the same id is stored and answered once")


class Source(BaseModel):
    title: str
    url: str | None = None


class TurnOut(BaseModel):
    id: int
    role: str
    text: str
    created_at: dt.datetime
    path: str | None = Field(default=None, description="which path produced a bot reply: intent, clarify, retrieval, out_of_scope or handoff")
    intent: str | None = None
    confidence: float | None = None
    sources: list[Source] = Field(default_factory=list)
    choices: list[str] = Field(default_factory=list)


class HandoffOut(BaseModel):
    id: int
    session_id: str
    status: str
    reason: str
    created_at: dt.datetime
    agent: str | None = None
    claimed_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None


class ChatOut(BaseModel):
    session_id: str
    reply: str | None = Field(description="null while a person has the conversation (see notice)")
    path: str | None = Field(description="which path produced the reply: intent, clarify, retrieval, out_of_scope (offers a person as a choice) or handoff")
    intent: str | None = None
    confidence: float | None = None
    choices: list[str] = Field(default_factory=list, description="for clarify and out_of_scope: the options to offer as buttons")
    sources: list[Source] = Field(default_factory=list, description="for retrieval: where the answer comes from")
    message: TurnOut = Field(description="the visitor's message as stored")
    turn: TurnOut | None = Field(description="the reply as stored (its id is what feedback names)")
    handoff: HandoffOut | None = None
    notice: str | None = None


class RasaIn(BaseModel):
    sender: str = Field(min_length=1, max_length=128)
    message: str = Field(min_length=1, max_length=MAX_TEXT)


class RasaButton(BaseModel):
    title: str
    payload: str


class RasaOut(BaseModel):
    recipient_id: str
    text: str
    buttons: list[RasaButton] | None = None


class HistoryQuery(Strict):
    after: int = Field(default=0, ge=0)


class HistoryOut(BaseModel):
    status: str
    messages: list[TurnOut]


class FeedbackIn(Strict):
    turn_id: int = Field(ge=1)
    helpful: bool
    comment: str | None = Field(default=None, max_length=2000)


class Created(BaseModel):
    id: int


class HandoffsQuery(Strict):
    status: str | None = Field(default=None, pattern="^(open|claimed|resolved)$")


class HandoffsOut(BaseModel):
    handoffs: list[HandoffOut]


class HandoffDetailOut(BaseModel):
    handoff: HandoffOut
    transcript: list[TurnOut]


class AgentIn(Strict):
    agent: str = Field(min_length=1, max_length=128)


class AgentReplyIn(AgentIn):
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class CorrectionIn(Strict):
    intent: str = Field(min_length=1, max_length=128)
    comment: str | None = Field(default=None, max_length=2000)


def turn_out(turn: Turn) -> dict:
    details = turn.details or {}
    return TurnOut(id=turn.id, role=turn.role, text=turn.text, created_at=turn.created_at, path=turn.path, intent=turn.intent,
                   confidence=turn.confidence, sources=details.get("sources", []), choices=details.get("choices", [])).model_dump(mode="json")


def handoff_out(handoff) -> dict:
    return HandoffOut.model_validate(handoff, from_attributes=True).model_dump(mode="json")


def _query(model: type[BaseModel]):
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        field_error(".".join(str(p) for p in first["loc"]) or "query", first["msg"])


def make_blueprint(service: ChatService, *, cors_origins: Sequence[str] = (), settings: Mapping | None = None) -> tuple[Blueprint, object]:
    """The app's blueprint and its OpenAPI spec (served at /cs/api/openapi/openapi.json under the suite).

    ``settings``: the app's troika.toml table (``rate_limit``); ``cors_origins``: the sites
    whose pages may call the visitors' API (the widget embedded there).
    """
    settings = settings or {}
    bp = Blueprint("customer_service", __name__, template_folder="templates", static_folder="static",
                   static_url_path="/static/customer_service")
    spec = api_spec("troika support chat API", path="cs/api/openapi",
                    description="The chat widget's API and the agents' handoff API of troika's support bot.")
    chats = service.chats

    if cors_origins:
        # The visitors' API only; the admin API is never callable from other sites.
        CORS(bp, resources={r".*/(api/chat|api/sessions/.*|webhooks/rest/webhook)$": {"origins": list(cors_origins)}},
             methods=["GET", "POST"], allow_headers=["Content-Type"], max_age=600)

    # --- pages ------------------------------------------------------------------------

    @bp.get("/")
    def home():
        return render_template("customer_service/home.html")

    @bp.get("/agents/")
    def agents():
        # The page holds no data: its script asks the admin API with the token the agent types in.
        return render_template("customer_service/agents.html")

    @bp.get("/widget.js")
    def widget():
        response = bp.send_static_file("widget.js")
        # Embeddable: other sites load this script; it is not secret and changes with releases.
        response.headers["Cache-Control"] = "public, max-age=300"
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        return response

    # --- visitors ---------------------------------------------------------------------

    @bp.post("/api/chat")
    @documented(spec, body=ChatIn, response=ChatOut, errors=(400, 404, 413, 415, 429), tags=["chat"])
    def chat():
        rate_limit("cs-chat", settings.get("rate_limit", DEFAULT_RATE_LIMIT))
        body = json_body(ChatIn)
        exchange = service.send(body.session_id, body.message, client_id=body.client_id)
        reply = turn_out(exchange.reply) if exchange.reply else None
        return jsonify(ChatOut(
            session_id=exchange.message.session_id,
            reply=reply and reply["text"], path=reply and reply["path"], intent=reply and reply["intent"],
            confidence=reply and reply["confidence"], choices=reply["choices"] if reply else [],
            sources=reply["sources"] if reply else [], message=turn_out(exchange.message), turn=reply,
            handoff=handoff_out(exchange.handoff) if exchange.handoff else None,
            notice=WAITING_TEXT if reply is None else None,
        ).model_dump(mode="json"))

    @bp.post("/webhooks/rest/webhook")
    @documented(spec, body=RasaIn, response=list[RasaOut], errors=(400, 413, 415, 429), tags=["rasa"])
    def rasa_rest():
        """Rasa's REST channel: clients built for a Rasa bot talk to this one unchanged."""
        rate_limit("cs-chat", settings.get("rate_limit", DEFAULT_RATE_LIMIT))
        body = json_body(RasaIn)
        # Rasa senders are the client's own conversation ids; ours are derived from them, stably.
        session_id = chats.start({"channel": "rasa"}, session_id="rasa-" + hashlib.sha256(body.sender.encode()).hexdigest()[:40])
        exchange = service.send(session_id, body.message)
        text = exchange.reply.text if exchange.reply else WAITING_TEXT
        choices = (exchange.reply.details or {}).get("choices", []) if exchange.reply else []
        out = {"recipient_id": body.sender, "text": text}
        if choices:
            out["buttons"] = [{"title": c, "payload": c} for c in choices]
        return jsonify([out])

    @bp.get("/api/sessions/<session_id>/messages")
    @documented(spec, query=HistoryQuery, response=HistoryOut, errors=(400, 404), tags=["chat"])
    def history(session_id):
        query = _query(HistoryQuery)
        turns = chats.history(session_id, after=query.after)
        return jsonify(status=chats.session(session_id)["status"], messages=[turn_out(t) for t in turns])

    @bp.post("/api/sessions/<session_id>/feedback")
    @documented(spec, body=FeedbackIn, response=Created, status=201, errors=(400, 404, 413, 415), tags=["chat"])
    def feedback(session_id):
        body = json_body(FeedbackIn)
        # A visitor may rate replies of their own session only.
        if body.turn_id not in {t.id for t in chats.history(session_id) if t.role == "bot"}:
            raise NotFoundError(f"no bot reply {body.turn_id} in this session")
        feedback_id = chats.add_feedback(body.turn_id, "visitor", helpful=body.helpful, comment=body.comment)
        return jsonify(id=feedback_id), 201

    # --- agents -----------------------------------------------------------------------

    @bp.get("/admin/handoffs")
    @require_admin
    @documented(spec, query=HandoffsQuery, response=HandoffsOut, errors=(400, 401, 403), tags=["handoffs"], security=ADMIN)
    def list_handoffs():
        query = _query(HandoffsQuery)
        return jsonify(handoffs=[handoff_out(h) for h in chats.handoffs(query.status)])

    @bp.get("/admin/handoffs/<int:handoff_id>")
    @require_admin
    @documented(spec, response=HandoffDetailOut, errors=(401, 403, 404), tags=["handoffs"], security=ADMIN)
    def show_handoff(handoff_id):
        handoff = chats.handoff(handoff_id)
        return jsonify(handoff=handoff_out(handoff), transcript=[turn_out(t) for t in chats.history(handoff.session_id)])

    @bp.post("/admin/handoffs/<int:handoff_id>/claim")
    @require_admin
    @documented(spec, body=AgentIn, response=HandoffOut, errors=(400, 401, 403, 404, 409, 415), tags=["handoffs"], security=ADMIN)
    def claim(handoff_id):
        return jsonify(handoff_out(chats.claim(handoff_id, json_body(AgentIn).agent)))

    @bp.post("/admin/handoffs/<int:handoff_id>/reply")
    @require_admin
    @documented(spec, body=AgentReplyIn, response=TurnOut, status=201, errors=(400, 401, 403, 404, 409, 415), tags=["handoffs"], security=ADMIN)
    def agent_reply(handoff_id):
        body = json_body(AgentReplyIn)
        return jsonify(turn_out(chats.agent_reply(handoff_id, body.agent, body.text))), 201

    @bp.post("/admin/handoffs/<int:handoff_id>/resolve")
    @require_admin
    @documented(spec, body=AgentIn, response=HandoffOut, errors=(400, 401, 403, 404, 409, 415), tags=["handoffs"], security=ADMIN)
    def resolve(handoff_id):
        return jsonify(handoff_out(chats.resolve(handoff_id, json_body(AgentIn).agent)))

    @bp.post("/admin/turns/<int:turn_id>/correction")
    @require_admin
    @documented(spec, body=CorrectionIn, response=Created, status=201, errors=(400, 401, 403, 404, 415), tags=["feedback"], security=ADMIN)
    def correct(turn_id):
        body = json_body(CorrectionIn)
        return jsonify(id=chats.add_feedback(turn_id, "admin", correct_intent=body.intent, comment=body.comment)), 201

    return bp, spec
