"""``[customer_service]`` of troika.toml: the keys the bot reads, their defaults and meaning.

Apart from ``plugin.py`` (which loads the models) so that ``troika config`` can list them
without importing torch. Files default to the demo bank in ``customer_service/demo`` when the
table names neither ``model`` nor ``intents``.
"""

from __future__ import annotations

from shared.config import AppKey
from shared.errors import ConfigError

DEFAULT_RATE_LIMIT = "20/second;600/minute"  # per client (a chat visitor)
# The demo's intent for "I want to talk to a human"; handoff_intents names others (or none).
DEFAULT_HANDOFF_INTENTS = ("speak_to_human",)

KEYS = [
    AppKey("model", None, "a directory from `troika cs train` to serve; unset: the bot trains on `intents` at start-up",
           example="var/models/intents"),
    AppKey("intents", None, "text,intent examples (CSV/JSONL, CLINC150 JSON or Rasa nlu.yml); model and intents unset: the demo's",
           example="data/intents.csv"),
    AppKey("oos", None, "messages the bot must not answer from an intent (text per row)", example="data/out_of_scope.csv"),
    AppKey("responses", None, "intent -> answer templates (YAML or JSON); required once model or intents is set",
           example="data/responses.yml"),
    AppKey("knowledge", [], "FAQ files (CSV/JSONL question,answer) and Markdown files or folders searched when no intent fits",
           example=["data/faq.csv", "data/guide.md"]),
    AppKey("knowledge_questions", None, "text,passage_id pairs that choose the retrieval threshold", example="data/kb_questions.csv"),
    AppKey("retrieval_model", None, "a knowledge-base encoder from `troika cs tune-retrieval`; unset: the base encoder",
           example="var/models/kb-encoder"),
    AppKey("handoff_intents", list(DEFAULT_HANDOFF_INTENTS), "intents that answer and then hand the chat to a person"),
    AppKey("oos_action", "reply", 'a message the bot cannot answer: "reply" offers a person, "handoff" hands off at once'),
    AppKey("handoff_webhook", None, "URL POSTed a JSON notice of every new handoff", example="https://hooks.example/support"),
    AppKey("rate_limit", DEFAULT_RATE_LIMIT, 'per client (remote address) on /cs/api/chat; over it: 429 + Retry-After; "": none'),
    AppKey("onnx", True, "encode messages with onnxruntime int8 (false: torch)"),
    AppKey("reload_seconds", 2, "how often the server looks for a newly activated model"),
    AppKey("thresholds", {}, "overrides of the policy thresholds chosen on validation: confidence, margin, oos, retrieval"),
]


def check_keys(settings: dict) -> None:
    """A key the bot does not read is most likely a typo that would silently do nothing."""
    known = [key.name for key in KEYS]
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ConfigError(f"[customer_service] has unknown key(s) {', '.join(unknown)}; the keys are {', '.join(known)}")
