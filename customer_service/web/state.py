"""How the chat views (module-level functions, flaskr's style) find what they serve.

``make_blueprint`` records the ``ChatService`` and the ``[customer_service]`` settings on the
blueprint (``shared.web.serve``); Flask hands them to the app that registers it, in
``app.extensions["troika.customer_service"]``, where these read them back.
"""

from __future__ import annotations

from shared.web import rate_limit, served

from ..conversations import Conversations
from ..service import ChatService
from ..settings import DEFAULT_RATE_LIMIT

EXTENSION = "troika.customer_service"


def current_service() -> ChatService:
    """The chat service of the app handling this request."""
    return served(EXTENSION).service


def current_chats() -> Conversations:
    """The stored conversations the service answers from."""
    return current_service().chats


def limit_chat() -> None:
    """Count this request against its client's chat rate limit (``[customer_service] rate_limit``): 429 over it."""
    rate_limit("cs-chat", served(EXTENSION).settings.get("rate_limit", DEFAULT_RATE_LIMIT))
