"""One chat exchange end to end, in plain Python: store the message, ask the bot, store the reply, hand off.

The Flask layer is a thin edge over this; tests drive it directly::

    service = ChatService(Conversations(engine), bot=lambda: current_bot, notifier=notifier)
    session_id = service.start()
    exchange = service.send(session_id, "where is my card?", client_id="m-1")
    exchange.reply.text, exchange.reply.path        # "Cards arrive in ...", "intent"

A visitor's message and the bot's reply are stored in one transaction before the visitor
hears back. A bot that is missing or raises never loses the message: the visitor is told a person will reply, and a handoff opens.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from shared.errors import NotFoundError
from shared.webhooks import deliver

from .conversations import Conversations, Handoff, Turn

log = logging.getLogger(__name__)

HANDOFF_TEXT = "I'm passing you to a member of our team; a person will reply here shortly."
WAITING_TEXT = "A member of our team will reply here shortly."
# A session id a client may choose for a new conversation (as a Rasa client names its sender): long
# enough that an id guessed to read someone's conversation finds nothing, in the characters ours use.
CLIENT_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True)
class BotReply:
    """What the bot says and why: ``path`` is intent, clarify, retrieval, out_of_scope (a reply offering a
    person) or handoff (the conversation goes to a person)."""

    text: str
    path: str
    intent: str | None = None
    confidence: float | None = None
    details: dict = field(default_factory=dict)  # sources, choices, scores: shown to admins, some to visitors


class Bot(Protocol):
    def respond(self, text: str, history: list[Turn]) -> BotReply: ...


@dataclass(frozen=True)
class Exchange:
    message: Turn
    reply: Turn | None  # None while a person has the conversation
    handoff: Handoff | None = None


class ChatService:
    def __init__(self, chats: Conversations, bot: Callable[[], Bot | None], *, notifier: HandoffNotifier | None = None):
        self.chats = chats
        self.bot = bot
        self.notifier = notifier

    def start(self, meta: dict | None = None) -> str:
        return self.chats.start(meta)

    def send(self, session_id: str | None, text: str, *, client_id: str | None = None) -> Exchange:
        """Answer ``text`` in the session (a new one when ``session_id`` is None)."""
        received_at = self.chats.clock()
        history: list[Turn] = []
        found = self._session(session_id)
        if found is not None:
            session, history = found
            if client_id is not None:
                earlier = self._resent(history, client_id)
                if earlier is not None:  # a resend of a message already stored: the same answer, stored once
                    return earlier
            if session["status"] == "handoff":
                message = self.chats.add_turn(session_id, "user", text, client_id=client_id)
                return Exchange(message, None, self.chats.waiting_handoff(session_id))
        reply = self._ask_bot(text, history)
        handoff_reason = reply.details.get("reason", "the bot had no answer") if reply.path == "handoff" else None
        # Message and reply are committed together: one fsync per exchange instead of three.
        message, turn, handoff = self.chats.add_exchange(
            session_id, text, dict(text=reply.text, path=reply.path, intent=reply.intent, confidence=reply.confidence,
                                   details=reply.details),
            client_id=client_id, received_at=received_at, handoff_reason=handoff_reason)
        if handoff is not None and self.notifier is not None:
            self.notifier.notify(handoff)
        return Exchange(message, turn, handoff)

    def _session(self, session_id: str | None) -> tuple[dict, list[Turn]] | None:
        """The session and its recent turns; None for a new one (no id, or an unknown id the client may choose)."""
        if session_id is None:
            return None
        try:
            return self.chats.recent(session_id)
        except NotFoundError:
            if CLIENT_SESSION_ID.fullmatch(session_id):
                return None  # add_exchange creates it with this id
            raise NotFoundError(f"no chat session {session_id!r}; omit session_id to start one, or name a new one with "
                                "16 to 64 characters of A-Z, a-z, 0-9, _ and -") from None

    def _ask_bot(self, text: str, history: list[Turn]) -> BotReply:
        bot = self.bot()
        if bot is None:
            return BotReply(HANDOFF_TEXT, "handoff", details={"reason": "no bot model is loaded"})
        try:
            return bot.respond(text, history)
        except Exception:
            log.exception("the bot failed on a message; handing the conversation to a person")
            return BotReply(HANDOFF_TEXT, "handoff", details={"reason": "the bot failed on this message"})

    @staticmethod
    def _resent(history: list[Turn], client_id: str) -> Exchange | None:
        for i, turn in enumerate(history):
            if turn.role == "user" and turn.client_id == client_id:
                after = history[i + 1] if i + 1 < len(history) else None
                # Only the turn right after the message answers it; an agent's turn is not the bot's reply.
                return Exchange(turn, after if after is not None and after.role == "bot" else None)
        return None


class HandoffNotifier:
    """Posts each new handoff, with its transcript, to a webhook in the background; every attempt is recorded.

    The payload has a top-level ``text`` so Slack-compatible incoming webhooks show it as it is.
    """

    def __init__(self, chats: Conversations, url: str, *, attempts: int = 3, backoff: float = 2.0, timeout: float = 5.0,
                 admin_url: str = ""):
        self.chats = chats
        self.url = url
        self.attempts = attempts
        self.backoff = backoff
        self.timeout = timeout
        self.admin_url = admin_url
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="handoff-webhook")

    def payload(self, handoff: Handoff) -> dict:
        transcript = [{"role": t.role, "text": t.text, "at": t.created_at.isoformat()} for t in self.chats.history(handoff.session_id)]
        last = next((t["text"] for t in reversed(transcript) if t["role"] == "user"), "")
        link = f" {self.admin_url}" if self.admin_url else ""
        return {
            "text": f"Handoff #{handoff.id}: a visitor needs a person ({handoff.reason}). Last message: {last[:300]}{link}",
            "handoff": {"id": handoff.id, "session_id": handoff.session_id, "reason": handoff.reason,
                        "created_at": handoff.created_at.isoformat()},
            "transcript": transcript,
        }

    def notify(self, handoff: Handoff):
        """Queue the delivery; returns the future (tests wait on it, the server does not)."""
        return self._pool.submit(self._deliver, handoff)

    def _deliver(self, handoff: Handoff) -> bool:
        def record(attempt):
            self.chats.record_delivery(handoff.id, self.url, attempt.attempt, attempt.ok,
                                       status_code=attempt.status_code, error=attempt.error)

        try:
            return deliver(self.url, self.payload(handoff), record=record, attempts=self.attempts, backoff=self.backoff,
                           timeout=self.timeout)
        except Exception:
            log.exception("could not notify handoff %s", handoff.id)
            return False

    def close(self) -> None:
        self._pool.shutdown(wait=True)
