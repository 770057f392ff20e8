"""Chat sessions as stored: turns, handoffs to people, webhook deliveries, feedback.

Plain Python over SQLAlchemy Core; the Flask layer and the bot call it::

    chats = Conversations(engine_for(config.database_url))
    session_id = chats.start()
    chats.add_turn(session_id, "user", "where is my card?", client_id="m-1")
    chats.add_turn(session_id, "bot", "Cards arrive in 3-5 days.", path="intent", intent="card_arrival", confidence=0.93)
    chats.history(session_id)                 # every turn, oldest first
    handoff = chats.open_handoff(session_id, "no confident answer")
    chats.claim(handoff.id, "alice"); chats.agent_reply(handoff.id, "alice", "Hi, Alice here.")

Every write is one transaction. A visitor's message and the bot's reply go in together
(``add_exchange``): one commit per exchange, and nothing is acknowledged before it.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Engine

from shared.errors import ConflictError, DataError, NotFoundError
from shared.storage import insert_new

from .tables import deliveries, feedback, handoffs, sessions, turns

ROLES = ("user", "bot", "agent")
# The policy's paths, and the bot's out_of_scope: a reply to a message it cannot answer, offering a person.
PATHS = ("intent", "clarify", "retrieval", "out_of_scope", "handoff")
MAX_TEXT = 4000  # characters of one message; longer is refused, never cut silently


# Built once: parameters passed beside a statement keep its compiled form cached (a chat request's hot path).
_INSERT_TURN = turns.insert().returning(*turns.c)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Turn:
    id: int
    session_id: str
    role: str
    text: str
    created_at: dt.datetime
    path: str | None = None
    intent: str | None = None
    confidence: float | None = None
    details: dict = field(default_factory=dict)
    client_id: str | None = None


class Handoff(BaseModel):
    """A session handed to people, as stored; also the agents' API's JSON (``web.schemas.HandoffOut``)."""

    model_config = ConfigDict(frozen=True)

    id: int
    session_id: str
    status: str
    reason: str
    created_at: dt.datetime
    agent: str | None = None
    claimed_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None


def _turn(row) -> Turn:
    return Turn(**{k: row._mapping[k] for k in Turn.__dataclass_fields__})


def _handoff(row) -> Handoff:
    return Handoff(**{k: row._mapping[k] for k in Handoff.model_fields})


class Conversations:
    def __init__(self, engine: Engine, *, clock: Callable[[], dt.datetime] = utcnow):
        self.engine = engine
        self.clock = clock

    # --- sessions and turns ---------------------------------------------------------

    def start(self, meta: dict | None = None, *, session_id: str | None = None) -> str:
        """A new session (an unguessable id), or the one named ``session_id``, created if missing."""
        now = self.clock()
        row = dict(id=session_id or secrets.token_urlsafe(18), created_at=now, updated_at=now, status="bot", meta=meta or {})
        with self.engine.begin() as c:
            insert_new(c, sessions, [row], key=["id"])
        return row["id"]

    def session(self, session_id: str) -> dict:
        with self.engine.connect() as c:
            row = c.execute(sa.select(sessions).where(sessions.c.id == session_id)).first()
        if row is None:
            raise NotFoundError(f"no chat session {session_id!r}; start one first")
        return dict(row._mapping)

    def add_turn(self, session_id: str, role: str, text: str, *, client_id: str | None = None, path: str | None = None,
                 intent: str | None = None, confidence: float | None = None, details: dict | None = None) -> Turn:
        """Store one message; a repeated ``client_id`` in the session returns the first copy instead."""
        row = self._turn_row(session_id, role, text, client_id=client_id, path=path, intent=intent, confidence=confidence,
                             details=details)
        with self.engine.begin() as c:
            if c.execute(sa.select(sessions.c.id).where(sessions.c.id == session_id)).first() is None:
                raise NotFoundError(f"no chat session {session_id!r}; start one first")
            turn = self._insert_turn(c, row)
            if turn is None:
                return self._turn_by_client_id(c, session_id, client_id)
            c.execute(sessions.update().where(sessions.c.id == session_id).values(updated_at=row["created_at"]))
            return turn

    def add_exchange(self, session_id: str | None, text: str, reply: dict, *, client_id: str | None = None,
                     received_at: dt.datetime | None = None, handoff_reason: str | None = None) -> tuple[Turn, Turn | None, Handoff | None]:
        """A visitor's message and the bot's reply (``text``, ``path``, ``intent``, ``confidence``, ``details``), stored together.

        One transaction, so one commit (one fsync on SQLite) per exchange; a new session
        (``session_id`` None) is created in it too. The message is only acknowledged once this
        returns, so nothing acknowledged is ever lost. ``handoff_reason`` opens a handoff in the same
        transaction. A message whose ``client_id`` is already stored (a resend racing the first copy)
        is stored once: the first copy and the turn that answered it come back, and no handoff.
        """
        session_id = session_id or secrets.token_urlsafe(18)
        received_at = received_at or self.clock()
        message = self._turn_row(session_id, "user", text, client_id=client_id, at=received_at)
        answer = self._turn_row(session_id, "bot", reply["text"], path=reply.get("path"), intent=reply.get("intent"),
                                confidence=reply.get("confidence"), details=reply.get("details"))
        with self.engine.begin() as c:
            # Insert-if-new, not check-then-insert: two first messages naming the same new client-chosen
            # session at once both land in it instead of one failing on the primary key.
            created = insert_new(c, sessions, [dict(id=session_id, created_at=received_at, updated_at=answer["created_at"],
                                                    status="bot", meta={})], key=["id"])
            if not created:
                c.execute(sessions.update().where(sessions.c.id == session_id).values(updated_at=answer["created_at"]))
            stored = self._insert_turn(c, message)
            if stored is None:
                first = self._turn_by_client_id(c, session_id, client_id)
                after = c.execute(sa.select(turns).where(turns.c.session_id == session_id, turns.c.id > first.id)
                                  .order_by(turns.c.id).limit(1)).first()
                # Only the turn right after the message answers it; an agent's turn is not the bot's reply.
                return first, _turn(after) if after is not None and after.role == "bot" else None, None
            turn = self._insert_turn(c, answer)
            handoff = self._open_handoff(c, session_id, handoff_reason) if handoff_reason else None
            return stored, turn, handoff

    def history(self, session_id: str, *, after: int = 0, limit: int = 200) -> list[Turn]:
        """Turns of a session oldest first; ``after`` a turn id gives only newer ones (widget polling)."""
        self.session(session_id)
        with self.engine.connect() as c:
            rows = c.execute(sa.select(turns).where(turns.c.session_id == session_id, turns.c.id > after)
                             .order_by(turns.c.id).limit(limit)).all()
        return [_turn(r) for r in rows]

    def recent(self, session_id: str, *, limit: int = 50) -> tuple[dict, list[Turn]]:
        """The session and its latest ``limit`` turns, oldest first, read together: what the bot answers from."""
        with self.engine.connect() as c:
            row = c.execute(sa.select(sessions).where(sessions.c.id == session_id)).first()
            if row is None:
                raise NotFoundError(f"no chat session {session_id!r}; start one first")
            rows = c.execute(sa.select(turns).where(turns.c.session_id == session_id)
                             .order_by(turns.c.id.desc()).limit(limit)).all()
        return dict(row._mapping), [_turn(r) for r in reversed(rows)]

    def _turn_row(self, session_id: str, role: str, text: str, *, client_id: str | None = None, path: str | None = None,
                  intent: str | None = None, confidence: float | None = None, details: dict | None = None,
                  at: dt.datetime | None = None) -> dict:
        if role not in ROLES:
            raise DataError(f"role {role!r}: expected one of {', '.join(ROLES)}")
        if path is not None and path not in PATHS:
            raise DataError(f"path {path!r}: expected one of {', '.join(PATHS)}")
        if not text.strip():
            raise DataError("text is empty")
        if len(text) > MAX_TEXT:
            raise DataError(f"text is {len(text)} characters; at most {MAX_TEXT}")
        return dict(session_id=session_id, role=role, text=text, client_id=client_id, path=path, intent=intent,
                    confidence=None if confidence is None else float(confidence), details=details or {},
                    created_at=at or self.clock())

    @staticmethod
    def _insert_turn(c, row: dict) -> Turn | None:
        """The stored turn, or None when its client_id is already in the session."""
        if row["client_id"] is None:
            return _turn(c.execute(_INSERT_TURN, row).first())
        inserted = insert_new(c, turns, [row], key=["session_id", "client_id"], returning=[col.name for col in turns.c])
        return _turn(inserted[0]) if inserted else None

    @staticmethod
    def _turn_by_client_id(c, session_id: str, client_id: str) -> Turn:
        return _turn(c.execute(sa.select(turns).where(turns.c.session_id == session_id, turns.c.client_id == client_id)).first())

    # --- handoffs -------------------------------------------------------------------

    def open_handoff(self, session_id: str, reason: str) -> Handoff:
        """Hand the session to people; a session already waiting for one keeps its handoff."""
        with self.engine.begin() as c:
            return self._open_handoff(c, session_id, reason)

    def _open_handoff(self, c, session_id: str, reason: str) -> Handoff:
        current = c.execute(sa.select(handoffs).where(handoffs.c.session_id == session_id,
                                                      handoffs.c.status.in_(("open", "claimed")))).first()
        if current is not None:
            return _handoff(current)
        if c.execute(sessions.update().where(sessions.c.id == session_id).values(status="handoff")).rowcount == 0:
            raise NotFoundError(f"no chat session {session_id!r}")
        return _handoff(c.execute(handoffs.insert().values(session_id=session_id, status="open", reason=reason,
                                                           created_at=self.clock()).returning(*handoffs.c)).first())

    def waiting_handoff(self, session_id: str) -> Handoff | None:
        """The session's open or claimed handoff, if a person has (or is about to have) the conversation."""
        with self.engine.connect() as c:
            row = c.execute(sa.select(handoffs).where(handoffs.c.session_id == session_id,
                                                      handoffs.c.status.in_(("open", "claimed")))).first()
        return _handoff(row) if row else None

    def handoff(self, handoff_id: int) -> Handoff:
        with self.engine.connect() as c:
            row = c.execute(sa.select(handoffs).where(handoffs.c.id == handoff_id)).first()
        if row is None:
            raise NotFoundError(f"no handoff {handoff_id}")
        return _handoff(row)

    def handoffs(self, status: str | None = None, *, limit: int = 100) -> list[Handoff]:
        query = sa.select(handoffs).order_by(handoffs.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(handoffs.c.status == status)
        with self.engine.connect() as c:
            return [_handoff(r) for r in c.execute(query).all()]

    def claim(self, handoff_id: int, agent: str) -> Handoff:
        """Take an open handoff; two agents claiming at once: one wins, the other gets ConflictError."""
        with self.engine.begin() as c:
            # A conditional UPDATE is atomic on both backends: no read-then-write race.
            won = c.execute(handoffs.update().where(handoffs.c.id == handoff_id, handoffs.c.status == "open")
                            .values(status="claimed", agent=agent, claimed_at=self.clock())).rowcount
        current = self.handoff(handoff_id)
        if not won and current.agent != agent:
            raise ConflictError(f"handoff {handoff_id} is {current.status}" + (f" by {current.agent}" if current.agent else ""))
        return current

    def resolve(self, handoff_id: int, agent: str) -> Handoff:
        current = self.handoff(handoff_id)
        if current.status == "resolved":
            return current
        if current.status == "claimed" and current.agent != agent:
            raise ConflictError(f"handoff {handoff_id} is claimed by {current.agent}")
        with self.engine.begin() as c:
            c.execute(handoffs.update().where(handoffs.c.id == handoff_id)
                      .values(status="resolved", agent=agent, resolved_at=self.clock()))
            c.execute(sessions.update().where(sessions.c.id == current.session_id).values(status="bot"))
        return self.handoff(handoff_id)

    def agent_reply(self, handoff_id: int, agent: str, text: str) -> Turn:
        """A person's answer, shown in the visitor's widget; replying claims an open handoff."""
        current = self.claim(handoff_id, agent) if self.handoff(handoff_id).status == "open" else self.handoff(handoff_id)
        if current.status == "resolved":
            raise ConflictError(f"handoff {handoff_id} is resolved; the visitor's next message opens a new one")
        if current.agent != agent:
            raise ConflictError(f"handoff {handoff_id} is claimed by {current.agent}")
        return self.add_turn(current.session_id, "agent", text, details={"agent": agent, "handoff": handoff_id})

    def record_delivery(self, handoff_id: int, url: str, attempt: int, ok: bool, *, status_code: int | None = None,
                        error: str | None = None) -> None:
        with self.engine.begin() as c:
            c.execute(deliveries.insert().values(handoff_id=handoff_id, url=url, attempt=attempt, ok=ok,
                                                 status_code=status_code, error=error, created_at=self.clock()))

    def deliveries(self, handoff_id: int) -> list[dict]:
        with self.engine.connect() as c:
            rows = c.execute(sa.select(deliveries).where(deliveries.c.handoff_id == handoff_id).order_by(deliveries.c.id)).all()
        return [dict(r._mapping) for r in rows]

    # --- feedback -------------------------------------------------------------------

    def add_feedback(self, turn_id: int, source: str, *, helpful: bool | None = None, correct_intent: str | None = None,
                     comment: str | None = None) -> int:
        if source not in ("visitor", "admin"):
            raise DataError(f"source {source!r}: expected visitor or admin")
        if helpful is None and not correct_intent and not comment:
            raise DataError("feedback needs helpful, correct_intent or comment")
        with self.engine.begin() as c:
            role = c.execute(sa.select(turns.c.role).where(turns.c.id == turn_id)).scalar()
            if role != "bot":
                raise NotFoundError(f"no bot reply {turn_id} to give feedback on")
            return c.execute(feedback.insert().values(turn_id=turn_id, source=source, helpful=helpful,
                                                      correct_intent=correct_intent or None, comment=comment,
                                                      used_in_training=False, created_at=self.clock())
                             .returning(feedback.c.id)).scalar_one()

    def training_examples(self, *, unused_only: bool = True) -> list[tuple[int, str, str]]:
        """(feedback id, visitor text, intent) pairs that feedback supports, for retraining.

        An admin correction labels the visitor message the bot answered; a visitor's
        "helpful" on an intent answer confirms that intent. "Not helpful" alone labels nothing.
        """
        bot = turns.alias("bot")
        asked = turns.alias("asked")
        # The visitor message a bot turn answered: the latest user turn before it in the session.
        asked_id = (sa.select(sa.func.max(asked.c.id)).where(asked.c.session_id == bot.c.session_id,
                                                           asked.c.role == "user", asked.c.id < bot.c.id)
                    .scalar_subquery())
        query = (sa.select(feedback.c.id, feedback.c.correct_intent, feedback.c.helpful, bot.c.intent, bot.c.path, turns.c.text)
                 .join(bot, bot.c.id == feedback.c.turn_id).join(turns, turns.c.id == asked_id).order_by(feedback.c.id))
        if unused_only:
            query = query.where(feedback.c.used_in_training.is_(False))
        examples = []
        with self.engine.connect() as c:
            for fid, correction, helpful, intent, path, text in c.execute(query).all():
                if correction:
                    examples.append((fid, text, correction))
                elif helpful and path == "intent" and intent:
                    examples.append((fid, text, intent))
        return examples

    def mark_used(self, feedback_ids: list[int]) -> None:
        with self.engine.begin() as c:
            c.execute(feedback.update().where(feedback.c.id.in_(feedback_ids)).values(used_in_training=True))
