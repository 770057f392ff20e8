"""The chat API's JSON bodies and query strings as pydantic models, and the conversions into them.

``json_body`` and ``query_args`` validate requests with them and the OpenAPI description is
generated from them, so what is documented is what is checked.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from shared.openapi import keep_component_names

from ..conversations import MAX_TEXT, Handoff, Turn

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
ADMIN = {"admin_token": []}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChatIn(Strict):
    message: str = Field(min_length=1, max_length=MAX_TEXT)
    session_id: str | None = Field(default=None, pattern=ID_PATTERN, description=(
        "omit to start a new conversation with an id chosen by the server, or name a new one: an unknown id of 16 to 64 "
        "characters of A-Z a-z 0-9 _ - starts that conversation (as a Rasa client's sender does); an unknown shorter id is 404"))
    client_id: str | None = Field(default=None, pattern=ID_PATTERN,
                                  description="the widget's id for this message; a resend with the same id is stored and answered once")


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


# The domain's record is the wire's: one type, documented under the name the API has always given it.
class HandoffOut(Handoff):
    pass


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


def handoff_out(handoff: Handoff) -> dict:
    return handoff.model_dump(mode="json")


keep_component_names(globals(), __package__)  # the names they had in customer_service.web, before it was split
