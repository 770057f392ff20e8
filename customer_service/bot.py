"""The support bot: one message in, an intent's answer, a clarifying question, a knowledge-base
answer, an out-of-scope reply offering a person, or a handoff out, each saying which path produced it and why.

    bot = IntentBot(detector, responses, KnowledgeBase.build(passages, Embedder()), thresholds)
    bot.respond("where is my card?", history=[])   # BotReply(text=..., path="intent", intent="card_arrival", ...)

The decision itself is ``policy.decide``; this module only gathers what it needs (intent
probabilities and out-of-scope score from the detector, knowledge-base hits) and turns the
decision into words. Two conversational rules use the history:

- a clarifying question's choices are buttons; a reply that is exactly one of them answers
  that intent, with no second guess;
- a short follow-up that is not answerable on its own ("and for a virtual card?") is read
  again together with the visitor's previous message, and that reading wins when it answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shared.embeddings import Embedder, Hit, VectorIndex
from shared.errors import ConfigError, DataError

from .knowledge_files import Passage
from .oos import OutOfScopeDetector
from .policy import Decision, PolicyThresholds, decide
from .response_files import Responses
from .service import HANDOFF_TEXT, BotReply

FOLLOW_UP_WORDS = 6  # a message this short may lean on the previous one
HITS = 3
OOS_ACTIONS = ("reply", "handoff")
PERSON_CHOICE = "talk to a person"  # the choice an out-of-scope reply offers
# Replies to "shall I pass you to a person?" that mean yes, besides the choice itself.
YES = frozenset({"yes", "yes please", "please", "please do", "ok", "okay", "sure", "yes, please"})
OUT_OF_SCOPE_RESPONSE = "out_of_scope"  # the responses file's template for an out-of-scope reply, if written


def choice_label(intent: str) -> str:
    """What a visitor reads on a choice button: ``card_fee`` → ``card fee``."""
    return intent.replace("_", " ")


@dataclass
class KnowledgeBase:
    """Passages and a vector index over them, searched with the same embedder; optionally the
    intents' training examples too, indexed by the same embedder, so that one encoding of a
    message says whether it is nearer a knowledge-base question or an intent's example."""

    passages: dict[str, Passage]
    embedder: Embedder
    index: VectorIndex
    examples: VectorIndex | None = None
    # True when the intent model's sentence vectors are this embedder's (fast mode on the same
    # encoder): the bot then searches with the vector it already has, one encoding per message.
    shares_intent_vectors: bool = False

    @classmethod
    def build(cls, passages: Sequence[Passage], embedder: Embedder, *, show_progress: bool = False) -> KnowledgeBase:
        if not passages:
            raise DataError("the knowledge base has no passages")
        index = VectorIndex.build([p.id for p in passages], [p.search_text for p in passages], embedder, show_progress=show_progress)
        return cls({p.id: p for p in passages}, embedder, index)

    def for_detector(self, detector: OutOfScopeDetector) -> KnowledgeBase:
        """The same knowledge base, also indexing the detector's training texts (its intents'
        examples), and knowing whether the detector's sentence vectors are its own."""
        texts = list(dict.fromkeys(getattr(detector, "data_", {}).get("train", [[]])[0]))
        examples = VectorIndex.build(list(range(len(texts))), texts, self.embedder) if texts else None
        probe = ["Where is the card I ordered last week?"]
        same = bool(np.allclose(self.embedder.encode(probe), detector.signals(probe).embeddings, atol=1e-4))
        return KnowledgeBase(self.passages, self.embedder, self.index, examples, shares_intent_vectors=same)

    def search(self, text: str, k: int = HITS) -> list[Hit]:
        return self.lookup(text, k)[0]

    def lookup(self, text: str, k: int = HITS, *, vector: np.ndarray | None = None) -> tuple[list[Hit], float | None]:
        """(best passages, similarity of the closest intent example or None) from one encoding
        (``vector``, the text's (1, dim) embedding by this embedder, when the caller has it)."""
        vector = self.embedder.encode([text]) if vector is None else vector
        hits = self.index.search(vector, k=min(k, len(self.passages)))[0]
        nearest = self.examples.search(vector, k=1)[0][0].score if self.examples is not None else None
        return hits, nearest


class IntentBot:
    """Implements ``service.Bot``. Any part may be missing: without a detector every message
    goes to the knowledge base; what nothing answers gets an out-of-scope reply offering a person
    (``oos_action="reply"``) or is handed off (``"handoff"``). ``handoff_intents`` answer and hand off."""

    def __init__(self, detector: OutOfScopeDetector | None, responses: Responses, knowledge: KnowledgeBase | None = None,
                 thresholds: PolicyThresholds | None = None, *, handoff_intents=(), oos_action: str = "reply"):
        if oos_action not in OOS_ACTIONS:
            raise ConfigError(f"oos_action must be one of {', '.join(OOS_ACTIONS)}, got {oos_action!r}")
        self.detector = detector
        self.responses = responses
        self.knowledge = knowledge
        self.thresholds = thresholds or PolicyThresholds(oos=detector.threshold_ if detector else PolicyThresholds.oos)
        # Intents that mean "a person, please": answered with their template, and the conversation handed off.
        self.handoff_intents = frozenset(handoff_intents)
        # What a message the bot cannot answer gets: an out-of-scope reply offering a person, or a person at once.
        self.oos_action = oos_action

    def decide(self, text: str) -> Decision:
        probs, oos_score, vector = {}, None, None
        if self.detector is not None:
            signals = self.detector.signals([text])
            rows, intents, oos = self.detector.assess(signals)
            probs, oos_score = dict(zip(intents, rows[0])), float(oos[0])
            if self.knowledge is not None and self.knowledge.shares_intent_vectors:
                vector = signals.embeddings
        if self.knowledge is None:
            return decide(probs, oos_score, (), self.thresholds)
        hits, nearest = self.knowledge.lookup(text, vector=vector)
        return decide(probs, oos_score, hits, self.thresholds, nearest_example=nearest)

    def respond(self, text: str, history: list) -> BotReply:
        if _accepts_person(text, history):
            return BotReply(HANDOFF_TEXT, "handoff", details={"reason": "the visitor accepted the offer of a person"})
        chosen = _chosen_intent(text, history)
        if chosen is not None and chosen in self.responses:
            return self._answer(chosen, None, {"reason": f"the visitor chose {choice_label(chosen)!r} from the choices offered"})
        decision = self.decide(text)
        previous = _previous_user_text(history)
        if previous and len(text.split()) <= FOLLOW_UP_WORDS and self._may_lean_on_context(decision):
            with_context = self.decide(f"{previous} {text}")
            if with_context.path == "intent" or (with_context.path == "clarify" and decision.path == "handoff"):
                return self._reply(with_context, context=previous)
        return self._reply(decision)

    def _may_lean_on_context(self, decision: Decision) -> bool:
        """Only a message that is ours but unclear: one the detector calls out of scope stays out of
        scope (the weather does not become a card question because a card was asked about before),
        and a knowledge-base answer found for the message itself stands."""
        out_of_scope = decision.oos_score is not None and decision.oos_score >= self.thresholds.oos
        return decision.path in ("clarify", "handoff") and not out_of_scope

    def _reply(self, decision: Decision, context: str | None = None) -> BotReply:
        details: dict = {"reason": decision.reason}
        if decision.oos_score is not None:
            details["oos_score"] = round(float(decision.oos_score), 4)
        if context is not None:
            details["read_with"] = context
        confidence = round(float(decision.confidence), 4) if decision.confidence else None
        if decision.path == "intent":
            if decision.intent not in self.responses:
                details["reason"] = f"{decision.reason}; but no answer is written for {decision.intent}"
                return BotReply(HANDOFF_TEXT, "handoff", intent=decision.intent, confidence=confidence, details=details)
            return self._answer(decision.intent, confidence, details)
        if decision.path == "clarify":
            labels = [choice_label(i) for i in decision.choices]
            details["choices"] = labels
            details["choice_intents"] = list(decision.choices)
            return BotReply(f"Did you mean {labels[0]} or {labels[1]}?", "clarify", confidence=confidence, details=details)
        if decision.path == "retrieval":
            passage = self.knowledge.passages[decision.hit.id]
            details["sources"] = [{"title": passage.title or passage.source, "url": _url(passage.source)}]
            return BotReply(passage.text, "retrieval", confidence=round(float(decision.hit.score), 4), details=details)
        if self.oos_action == "reply":
            details["choices"] = [PERSON_CHOICE]
            return BotReply(self._out_of_scope_text(), "out_of_scope", confidence=confidence, details=details)
        return BotReply(HANDOFF_TEXT, "handoff", confidence=confidence, details=details)

    def _answer(self, intent: str, confidence: float | None, details: dict) -> BotReply:
        """The intent's answer; a handoff intent's answer also hands the conversation to a person."""
        if intent in self.handoff_intents:
            details = {**details, "reason": f"{details['reason']}; {intent} hands off to a person"}
            return BotReply(self.responses.answer(intent), "handoff", intent=intent, confidence=confidence, details=details)
        return BotReply(self.responses.answer(intent), "intent", intent=intent, confidence=confidence, details=details)

    def _out_of_scope_text(self) -> str:
        if OUT_OF_SCOPE_RESPONSE in self.responses:
            return self.responses.answer(OUT_OF_SCOPE_RESPONSE)
        topics = [choice_label(i) for i in self.responses.templates if i != OUT_OF_SCOPE_RESPONSE and i not in self.handoff_intents][:3]
        offer = f"I can help with questions such as {', '.join(topics)}" if topics else "I can't answer that myself"
        return f"{offer}; shall I pass you to a person?"


def _accepts_person(text: str, history: list) -> bool:
    """True when the bot's last turn offered a person and this reply takes the offer."""
    last_bot = next((t for t in reversed(history) if t.role == "bot"), None)
    if last_bot is None or last_bot.path != "out_of_scope":
        return False
    answer = text.strip().lower().rstrip(".!")
    return answer == PERSON_CHOICE or answer in YES


def _url(source: str) -> str | None:
    return source if source.startswith(("http://", "https://")) else None


def _previous_user_text(history: list) -> str | None:
    return next((t.text for t in reversed(history) if t.role == "user"), None)


def _chosen_intent(text: str, history: list) -> str | None:
    """The intent behind ``text`` when it is one of the choices the bot's last turn offered."""
    last_bot = next((t for t in reversed(history) if t.role == "bot"), None)
    if last_bot is None or last_bot.path != "clarify":
        return None
    labels, intents = last_bot.details.get("choices", []), last_bot.details.get("choice_intents", [])
    for label, intent in zip(labels, intents):
        if text.strip().lower() == label.lower():
            return intent
    return None
