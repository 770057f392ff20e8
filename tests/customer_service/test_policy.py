import numpy as np
import pytest

from customer_service.intent_files import OUT_OF_SCOPE
from customer_service.policy import (
    PATHS,
    Costs,
    PolicyThresholds,
    choose_retrieval_threshold,
    choose_thresholds,
    decide,
    policy_value,
)
from shared.embeddings import Hit
from shared.errors import ConfigError, DataError

T = PolicyThresholds(confidence=0.6, margin=0.2, oos=0.5, retrieval=0.5)
GOOD_HIT = [Hit("faq-2", 0.3), Hit("faq-7", 0.81)]
WEAK_HIT = [Hit("faq-2", 0.3)]


def test_a_confident_intent_is_answered():
    d = decide({"lost_card": 0.9, "open_account": 0.06, "interest_rate": 0.04}, 0.1, GOOD_HIT, T)
    assert (d.path, d.intent, d.choices, d.hit) == ("intent", "lost_card", (), None)
    assert d.confidence == pytest.approx(0.9)
    assert "lost_card at 0.90 >= 0.60, 0.84 ahead of open_account" in d.reason


def test_a_knowledge_base_question_nearer_than_any_intent_example_wins_over_a_sure_classifier():
    sure = {"lost_card": 0.9, "open_account": 0.06, "interest_rate": 0.04}
    d = decide(sure, 0.1, GOOD_HIT, T, nearest_example=0.55)
    assert (d.path, d.hit) == ("retrieval", GOOD_HIT[1])
    assert "closer than any intent's example (0.55)" in d.reason
    # An intent example at least as near keeps the intent; so does a hit under the retrieval threshold.
    assert decide(sure, 0.1, GOOD_HIT, T, nearest_example=0.81).path == "intent"
    assert decide(sure, 0.1, WEAK_HIT, T, nearest_example=0.2).path == "intent"
    assert decide(sure, 0.1, GOOD_HIT, T).path == "intent"  # no examples indexed: the classifier decides


def test_two_close_intents_get_a_clarifying_question():
    d = decide({"lost_card": 0.48, "open_account": 0.44, "interest_rate": 0.08}, 0.1, GOOD_HIT, T)
    assert (d.path, d.choices, d.intent) == ("clarify", ("lost_card", "open_account"), None)
    assert "within 0.20 of each other" in d.reason


def test_out_of_scope_goes_to_retrieval_when_a_passage_matches_else_handoff():
    probs = {"lost_card": 0.9, "open_account": 0.1}
    d = decide(probs, 0.7, GOOD_HIT, T)
    assert (d.path, d.hit.id, d.intent) == ("retrieval", "faq-7", None)
    assert d.reason.startswith("out of scope: score 0.7 >= 0.5") and "'faq-7' at 0.81 >= 0.50" in d.reason
    d = decide(probs, 0.7, WEAK_HIT, T)
    assert d.path == "handoff" and "best knowledge-base match 'faq-2' at 0.30 < 0.50" in d.reason
    assert decide(probs, 0.7, [], T).reason.endswith("no knowledge-base match")


def test_an_unsure_message_falls_back_too():
    probs = {"lost_card": 0.5, "open_account": 0.25, "interest_rate": 0.25}  # too weak alone, no close pair
    d = decide(probs, 0.1, GOOD_HIT, T)
    assert d.path == "retrieval" and d.reason.startswith("unsure: lost_card at 0.50, open_account at 0.25")
    assert decide(probs, 0.1, WEAK_HIT, T).path == "handoff"


def test_every_path_is_reachable_and_named():
    seen = {
        decide({"a": 0.9, "b": 0.1}, 0.0, [], T).path,
        decide({"a": 0.5, "b": 0.45}, 0.0, [], T).path,
        decide({"a": 0.9, "b": 0.1}, 0.9, GOOD_HIT, T).path,
        decide({"a": 0.9, "b": 0.1}, 0.9, [], T).path,
    }
    assert seen == set(PATHS)


def test_without_an_intent_model_the_bot_still_retrieves_or_hands_off():
    assert decide({}, None, GOOD_HIT).path == "retrieval"
    d = decide({}, None, [])
    assert d.path == "handoff" and d.reason.startswith("no intent model")


def test_thresholds_can_be_overridden():
    probs = {"lost_card": 0.7, "open_account": 0.3}
    assert decide(probs, 0.1, [], T).path == "intent"
    stricter = T.override({"confidence": 0.8})
    assert stricter.confidence == 0.8 and stricter.margin == T.margin
    assert decide(probs, 0.1, [], stricter).path == "handoff"
    assert decide(probs, 0.1, [], T.override(oos=0.05)).reason.startswith("out of scope")
    with pytest.raises(ConfigError, match="unknown policy threshold 'confidance'"):
        T.override(confidance=0.8)


@pytest.mark.parametrize("bad", [{"confidence": 1.5}, {"margin": -0.1}, {"retrieval": 2}, {"oos": float("nan")}, {"confidence": "high"}])
def test_thresholds_are_validated(bad):
    with pytest.raises(ConfigError):
        PolicyThresholds(**bad)


# ---- choosing thresholds on validation ----------------------------------------------------------

LABELS = ["a", "b", "c"]


def validation_set():
    """Confident right answers, some ambiguous a/b pairs, and unsure rows that are often wrong."""
    confident = [[0.9, 0.05, 0.05]] * 20
    pairs = [[0.5, 0.45, 0.05]] * 6
    unsure = [[0.45, 0.3, 0.25]] * 10
    probs = np.array(confident + pairs + unsure)
    truth = ["a"] * 20 + ["b"] * 6 + ["a"] * 3 + ["c"] * 7
    return probs, truth


def test_chosen_thresholds_answer_the_confident_ask_the_pairs_and_drop_the_unsure():
    probs, truth = validation_set()
    t = choose_thresholds(probs, LABELS, truth, oos_threshold=0.42)
    assert t.oos == 0.42
    value = policy_value(probs, LABELS, truth, None, t)
    assert value["answered"] == pytest.approx(20 / 36) and value["answered_correctly"] == value["answered"]
    assert value["clarified"] == pytest.approx(6 / 36) and value["fallback"] == pytest.approx(10 / 36)
    assert value["value"] > policy_value(probs, LABELS, truth, None, PolicyThresholds(confidence=0.2, margin=0.0))["value"]
    assert decide(dict(zip(LABELS, probs[0])), 0.0, [], t).path == "intent"
    assert decide(dict(zip(LABELS, probs[25])), 0.0, [], t).path == "clarify"


def test_out_of_scope_validation_rows_raise_the_confidence_needed():
    probs = np.array([[0.9, 0.05, 0.05]] * 10 + [[0.7, 0.2, 0.1]] * 10)
    in_scope_only = choose_thresholds(probs, LABELS, ["a"] * 20)
    with_oos = choose_thresholds(probs, LABELS, ["a"] * 10 + [OUT_OF_SCOPE] * 10)
    assert policy_value(probs, LABELS, ["a"] * 20, None, in_scope_only)["answered"] == 1.0
    assert 0.7 < with_oos.confidence <= 0.9


def test_overrides_win_over_the_chosen_values_and_bad_input_is_refused():
    probs, truth = validation_set()
    assert choose_thresholds(probs, LABELS, truth, overrides={"margin": 0.33}).margin == 0.33
    with pytest.raises(DataError, match="do not match"):
        choose_thresholds(probs, LABELS[:2], truth)
    with pytest.raises(ConfigError, match="without the detector's threshold"):
        choose_thresholds(probs, LABELS, truth, np.zeros(len(truth)))


def test_rows_the_detector_flags_never_count_as_answers():
    probs = np.array([[0.9, 0.05, 0.05]] * 10)
    truth = ["a"] * 5 + [OUT_OF_SCOPE] * 5
    oos_scores = np.array([0.1] * 5 + [0.9] * 5)
    t = choose_thresholds(probs, LABELS, truth, oos_scores, oos_threshold=0.5)
    value = policy_value(probs, LABELS, truth, oos_scores, t)
    assert value["answered"] == value["answered_correctly"] == 0.5 and value["fallback"] == 0.5


def test_retrieval_threshold_answers_only_where_hits_are_mostly_right():
    scores = np.array([0.9, 0.85, 0.8, 0.7, 0.6, 0.55, 0.4, 0.3])
    correct = np.array([True, True, True, True, False, False, False, True])
    assert 0.6 < choose_retrieval_threshold(scores, correct) <= 0.7
    # A wrong answer costing little makes answering the 0.6-0.3 band worth it.
    assert choose_retrieval_threshold(scores, correct, Costs(wrong_answer=-0.2)) <= 0.3
    probs, truth = validation_set()
    assert 0.6 < choose_thresholds(probs, LABELS, truth, retrieval_scores=scores, retrieval_correct=correct).retrieval <= 0.7


def test_the_batched_route_agrees_with_decide():
    from customer_service.policy import route

    rng = np.random.default_rng(0)
    probs = rng.dirichlet([0.5, 0.5, 0.5], size=300)
    oos_scores = rng.random(300)
    paths, _, _ = route(probs, oos_scores, T)
    expected = [decide(dict(zip(LABELS, row)), score, [], T).path for row, score in zip(probs, oos_scores)]
    assert list(paths) == [p if p in ("intent", "clarify") else "fallback" for p in expected]
    assert set(paths) == {"intent", "clarify", "fallback"}
