"""What the bot does with one message, as a pure function of what the models said about it.

    thresholds = choose_thresholds(val_probs, intents, val_true, val_oos_scores, oos_threshold=detector.threshold_)
    decide({"card_arrival": 0.91, "refund": 0.05, ...}, oos_score=0.1, hits=[Hit("faq-3", 0.72)], thresholds=thresholds)
    # Decision(path="intent", intent="card_arrival", reason="card_arrival at 0.91 >= 0.60, 0.86 ahead of refund", ...)

Paths, checked in this order:
1. out of scope (the detector's score >= ``oos``) → the knowledge base: ``retrieval`` when the best
   hit's similarity >= ``retrieval``, else ``handoff``;
2. ``intent``: the top intent's calibrated probability >= ``confidence`` and it leads the runner-up
   by >= ``margin``;
3. ``clarify``: the top two are within ``margin`` of each other and together >= ``confidence`` (one
   of them is very likely right, we cannot tell which): ask, with both as choices;
4. otherwise unsure → ``retrieval`` or ``handoff`` as in 1.

Every ``Decision`` names its path and says why, with the figures that decided it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace

import numpy as np

from shared.errors import ConfigError, DataError

PATHS = ("intent", "clarify", "retrieval", "handoff")


@dataclass(frozen=True)
class PolicyThresholds:
    """The four thresholds of ``decide``. Defaults are placeholders for when no validation data
    exists; ``choose_thresholds`` picks them on validation, and any can be overridden (troika.toml)."""

    confidence: float = 0.6  # calibrated probability the top intent (or the top two, to clarify) needs
    margin: float = 0.2  # lead over the runner-up needed to answer without asking
    oos: float = 0.5  # out-of-scope score at or above which the message is out of scope (detector's scale)
    retrieval: float = 0.5  # cosine similarity the best knowledge-base hit needs to be given as the answer

    def __post_init__(self):
        for name in ("confidence", "margin"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ConfigError(f"policy threshold {name} must be a number in [0, 1], got {value!r}")
        if not isinstance(self.retrieval, (int, float)) or not -1 <= self.retrieval <= 1:
            raise ConfigError(f"policy threshold retrieval must be a cosine similarity in [-1, 1], got {self.retrieval!r}")
        if not isinstance(self.oos, (int, float)) or not math.isfinite(self.oos):
            raise ConfigError(f"policy threshold oos must be a finite number, got {self.oos!r}")

    def override(self, values: Mapping | None = None, **more) -> PolicyThresholds:
        """A copy with some thresholds replaced (e.g. a troika.toml table); unknown keys are errors."""
        values = {**(values or {}), **more}
        known = {f.name for f in fields(self)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown policy threshold {unknown[0]!r}; known: {', '.join(sorted(known))}")
        return replace(self, **values)


@dataclass(frozen=True)
class Decision:
    path: str  # one of PATHS
    reason: str  # why, with the figures that decided it
    intent: str | None = None  # the answered intent (path "intent")
    confidence: float = 0.0  # calibrated probability of the top intent (0 when there is no intent model)
    choices: tuple[str, ...] = ()  # the intents offered (path "clarify")
    hit: object | None = None  # the knowledge-base hit answered from (path "retrieval"): has .id and .score
    oos_score: float | None = None


def _fallback(reason: str, hits: Sequence, t: PolicyThresholds, **common) -> Decision:
    best = max(hits, key=lambda h: h.score, default=None)
    if best is not None and best.score >= t.retrieval:
        return Decision("retrieval", f"{reason}; knowledge-base match {best.id!r} at {best.score:.2f} >= {t.retrieval:.2f}", hit=best, **common)
    if best is None:
        return Decision("handoff", f"{reason}; no knowledge-base match", **common)
    return Decision("handoff", f"{reason}; best knowledge-base match {best.id!r} at {best.score:.2f} < {t.retrieval:.2f}", **common)


def decide(probs: Mapping[str, float], oos_score: float | None, hits: Sequence = (), thresholds: PolicyThresholds | None = None,
           *, nearest_example: float | None = None) -> Decision:
    """The decision for one message.

    ``probs``: calibrated probability per in-scope intent (empty when no intent model is loaded:
    the bot still answers from the knowledge base or hands off). ``oos_score``: the out-of-scope
    detector's score (None: no detector). ``hits``: knowledge-base matches with ``.id`` and a
    cosine ``.score`` (e.g. ``shared.embeddings.Hit``), any order. ``nearest_example``: cosine
    similarity, in the knowledge base's embedding space, of the message to the closest training
    example of any intent; a knowledge-base question closer than that (and above the retrieval
    threshold) answers the message, however confident the classifier is. A classifier must pick
    one of its intents and is often sure of it for a question it was never taught ("is my money
    protected?" → top_up at 0.83); which known question the message is nearest to is the fairer
    arbiter between the two sources of answers.
    """
    t = thresholds or PolicyThresholds()
    ranked = sorted(((float(p), str(label)) for label, p in probs.items()), reverse=True)
    if not ranked:
        return _fallback("no intent model", hits, t, oos_score=oos_score)
    p1, top = ranked[0]
    p2, second = ranked[1] if len(ranked) > 1 else (0.0, None)
    common = {"confidence": p1, "oos_score": oos_score}
    if oos_score is not None and oos_score >= t.oos:
        return _fallback(f"out of scope: score {oos_score:.3g} >= {t.oos:.3g}", hits, t, **common)
    best = max(hits, key=lambda h: h.score, default=None)
    if best is not None and nearest_example is not None and best.score >= t.retrieval and best.score > nearest_example:
        return Decision("retrieval", f"knowledge-base question {best.id!r} at {best.score:.2f} is closer than any intent's "
                        f"example ({nearest_example:.2f})", hit=best, **common)
    lead = p1 - p2
    if p1 >= t.confidence and lead >= t.margin:
        runner = f", {lead:.2f} ahead of {second}" if second else ""
        return Decision("intent", f"{top} at {p1:.2f} >= {t.confidence:.2f}{runner}", intent=top, **common)
    if second is not None and lead < t.margin and p1 + p2 >= t.confidence:
        return Decision(
            "clarify", f"{top} ({p1:.2f}) and {second} ({p2:.2f}) within {t.margin:.2f} of each other, together >= {t.confidence:.2f}",
            choices=(top, second), **common)
    return _fallback(f"unsure: {top} at {p1:.2f}" + (f", {second} at {p2:.2f}" if second else "") + f" (confidence {t.confidence:.2f})", hits, t, **common)


# ---- choosing the thresholds on validation data ---------------------------------------------------


@dataclass(frozen=True)
class Costs:
    """What each outcome is worth when thresholds are chosen; a handoff (or retrieval) is 0.

    A wrong answer costs more than a right one earns: the bot must not bluff. A clarifying question
    is worth less than a direct answer, and costs a little when the right intent is not offered.
    """

    right_answer: float = 1.0
    wrong_answer: float = -2.0
    useful_question: float = 0.5
    useless_question: float = -0.5


def route(probs: np.ndarray, oos_scores, thresholds: PolicyThresholds) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``decide``'s first three steps for many messages at once (no knowledge base).

    Returns (path per row: "intent" | "clarify" | "fallback", top column, runner-up column).
    """
    probs = np.asarray(probs, dtype=np.float64)
    order = np.argsort(-probs, axis=1, kind="stable")
    top, second = order[:, 0], order[:, 1] if probs.shape[1] > 1 else order[:, 0]
    rows = np.arange(len(probs))
    p1 = probs[rows, top]
    p2 = probs[rows, second] if probs.shape[1] > 1 else np.zeros(len(probs))
    oos = np.asarray(oos_scores, dtype=np.float64) >= thresholds.oos if oos_scores is not None else np.zeros(len(probs), bool)
    answer = ~oos & (p1 >= thresholds.confidence) & (p1 - p2 >= thresholds.margin)
    ask = ~oos & ~answer & (p1 - p2 < thresholds.margin) & (p1 + p2 >= thresholds.confidence) & (probs.shape[1] > 1)
    paths = np.where(answer, "intent", np.where(ask, "clarify", "fallback"))
    return paths, top, second


def policy_value(probs, labels: Sequence[str], true_intents: Sequence[str], oos_scores, thresholds: PolicyThresholds,
                 costs: Costs = Costs()) -> dict:
    """Mean value per message under ``costs``, and the share of messages per path. An out-of-scope
    message's true intent is any label not in ``labels`` (it is never answered right)."""
    paths, top, second = route(probs, oos_scores, thresholds)
    label_array = np.asarray(labels)
    true = np.asarray(true_intents)
    right = label_array[top] == true
    offered = right | (label_array[second] == true)
    value = np.select(
        [(paths == "intent") & right, paths == "intent", (paths == "clarify") & offered, paths == "clarify"],
        [costs.right_answer, costs.wrong_answer, costs.useful_question, costs.useless_question], 0.0)
    n = max(len(paths), 1)
    return {
        "value": float(value.sum() / n),
        "answered": float((paths == "intent").sum() / n),
        "answered_correctly": float(((paths == "intent") & right).sum() / n),
        "clarified": float((paths == "clarify").sum() / n),
        "fallback": float((paths == "fallback").sum() / n),
    }


CONFIDENCE_GRID = tuple(round(x, 2) for x in np.arange(0.20, 0.96, 0.05))
MARGIN_GRID = tuple(round(x, 2) for x in np.arange(0.0, 0.61, 0.05))


def choose_thresholds(probs, labels: Sequence[str], true_intents: Sequence[str], oos_scores=None, *,
                      oos_threshold: float | None = None, retrieval_scores=None, retrieval_correct=None,
                      costs: Costs = Costs(), overrides: Mapping | None = None) -> PolicyThresholds:
    """Thresholds that maximise the mean value (``Costs``) of the decisions on validation data.

    ``probs``: (n, k) calibrated in-scope probabilities, columns follow ``labels``; ``true_intents``:
    the right intent per row, ``OUT_OF_SCOPE`` (or any label not in ``labels``) for out-of-scope
    rows, which can only be answered wrongly, so they push the thresholds up. ``oos_threshold``:
    the detector's, chosen by ``customer_service.oos``. ``retrieval_scores``/``retrieval_correct``:
    the best knowledge-base hit's similarity for held-out questions and whether it was the right
    passage; without them the default retrieval threshold stays. Confidence and margin are searched
    on a grid; among equal values the higher thresholds win (when in doubt, do not answer).
    ``overrides`` (e.g. from troika.toml) replace whatever was chosen.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(labels) or len(probs) != len(true_intents):
        raise DataError(f"probabilities of shape {probs.shape} do not match {len(labels)} labels and {len(true_intents)} rows")
    if len(probs) == 0:
        raise DataError("choosing policy thresholds needs validation examples")
    if oos_scores is not None and oos_threshold is None:
        raise ConfigError("out-of-scope scores were given without the detector's threshold (oos_threshold)")
    base = PolicyThresholds() if oos_threshold is None else PolicyThresholds(oos=float(oos_threshold))
    best = None
    for confidence in CONFIDENCE_GRID:
        for margin in MARGIN_GRID:
            candidate = replace(base, confidence=confidence, margin=margin)
            value = policy_value(probs, labels, true_intents, oos_scores, candidate, costs)["value"]
            key = (round(value, 12), confidence, margin)
            if best is None or key > best[0]:
                best = (key, candidate)
    chosen = best[1]
    if retrieval_scores is not None:
        chosen = replace(chosen, retrieval=choose_retrieval_threshold(retrieval_scores, retrieval_correct, costs))
    return chosen.override(overrides or {})


def choose_retrieval_threshold(scores, correct, costs: Costs = Costs()) -> float:
    """The similarity above which answering from the best hit is worth it: a right passage earns
    ``right_answer``, a wrong one costs ``wrong_answer``, below the threshold it is a handoff (0)."""
    scores = np.asarray(scores, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if len(scores) == 0 or len(scores) != len(correct):
        raise DataError("choosing the retrieval threshold needs one correctness flag per score, and at least one")
    distinct = np.unique(scores)
    candidates = np.concatenate([(distinct[:-1] + distinct[1:]) / 2, [distinct[0] - 1e-6], [min(distinct[-1] + 1e-6, 1.0)]])
    values = [(costs.right_answer * (correct & (scores >= c)).sum() + costs.wrong_answer * (~correct & (scores >= c)).sum(), c) for c in candidates]
    return float(np.clip(max(values)[1], -1.0, 1.0))
