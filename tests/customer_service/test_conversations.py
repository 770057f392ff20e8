import datetime as dt
import threading
from pathlib import Path

import pytest

import customer_service
from customer_service.conversations import Conversations
from shared.errors import ConflictError, DataError, NotFoundError
from shared.storage import migrate

MIGRATIONS = Path(customer_service.__file__).parent / "migrations"


@pytest.fixture
def chats(db_engine):
    migrate(db_engine, MIGRATIONS, "customer_service_alembic_version")
    return Conversations(db_engine)


def test_a_conversation_is_stored_turn_by_turn_and_read_back_in_order(chats):
    sid = chats.start({"page": "/pricing"})
    chats.add_turn(sid, "user", "where is my card?")
    chats.add_turn(sid, "bot", "Cards arrive in 3-5 working days.", path="intent", intent="card_arrival", confidence=0.93)
    chats.add_turn(sid, "user", "and for a virtual card?")
    history = chats.history(sid)
    assert [(t.role, t.text) for t in history] == [
        ("user", "where is my card?"), ("bot", "Cards arrive in 3-5 working days."), ("user", "and for a virtual card?")]
    assert history[1].path == "intent" and history[1].confidence == pytest.approx(0.93)
    assert history[0].created_at.tzinfo is not None
    assert chats.session(sid)["meta"] == {"page": "/pricing"}
    assert [t.text for t in chats.history(sid, after=history[1].id)] == ["and for a virtual card?"]


def test_a_resent_message_is_stored_once(chats):
    sid = chats.start()
    first = chats.add_turn(sid, "user", "hello", client_id="m-1")
    again = chats.add_turn(sid, "user", "hello", client_id="m-1")
    assert first.id == again.id
    assert len(chats.history(sid)) == 1


def test_resends_racing_from_two_threads_still_store_one_turn(chats):
    sid = chats.start()
    barrier, ids, errors = threading.Barrier(4), [], []

    def send():
        try:
            barrier.wait()
            ids.append(chats.add_turn(sid, "user", "hello?", client_id="m-7").id)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == [] and len(set(ids)) == 1
    assert len(chats.history(sid)) == 1


@pytest.mark.parametrize("bad, message", [
    (dict(role="robot", text="hi"), "role"),
    (dict(role="user", text="   "), "empty"),
    (dict(role="user", text="x" * 5000), "at most"),
    (dict(role="bot", text="hi", path="guess"), "path"),
])
def test_bad_turns_are_refused_and_nothing_is_stored(chats, bad, message):
    sid = chats.start()
    with pytest.raises(DataError, match=message):
        chats.add_turn(sid, **bad)
    assert chats.history(sid) == []


def test_unknown_sessions_are_not_found(chats):
    with pytest.raises(NotFoundError, match="start one first"):
        chats.add_turn("nope", "user", "hi")
    with pytest.raises(NotFoundError):
        chats.history("nope")


def test_handoff_lifecycle_open_claim_reply_resolve(chats):
    sid = chats.start()
    chats.add_turn(sid, "user", "I want to speak to a person")
    handoff = chats.open_handoff(sid, "visitor asked for a person")
    assert chats.open_handoff(sid, "asked again").id == handoff.id  # one waiting handoff per session
    assert chats.session(sid)["status"] == "handoff"
    assert [h.id for h in chats.handoffs("open")] == [handoff.id]

    claimed = chats.claim(handoff.id, "alice")
    assert (claimed.status, claimed.agent) == ("claimed", "alice")
    with pytest.raises(ConflictError, match="claimed by alice"):
        chats.claim(handoff.id, "bob")
    with pytest.raises(ConflictError):
        chats.agent_reply(handoff.id, "bob", "Bob here")
    reply = chats.agent_reply(handoff.id, "alice", "Hi, Alice here. Let me check.")
    assert chats.history(sid)[-1] == reply and reply.role == "agent"

    resolved = chats.resolve(handoff.id, "alice")
    assert resolved.status == "resolved" and resolved.resolved_at >= resolved.claimed_at
    assert chats.session(sid)["status"] == "bot"
    assert chats.open_handoff(sid, "new problem").id != handoff.id


def test_two_agents_claiming_at_once_one_wins(chats):
    handoff = chats.open_handoff(chats.start(), "no answer")
    barrier, winners, losers = threading.Barrier(2), [], []

    def claim(agent):
        barrier.wait()
        try:
            winners.append(chats.claim(handoff.id, agent).agent)
        except ConflictError:
            losers.append(agent)

    threads = [threading.Thread(target=claim, args=(a,)) for a in ("alice", "bob")]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(winners) == 1 and len(losers) == 1
    assert chats.handoff(handoff.id).agent == winners[0]


def test_webhook_deliveries_are_recorded_whatever_happened(chats):
    handoff = chats.open_handoff(chats.start(), "no answer")
    chats.record_delivery(handoff.id, "https://hooks.example/x", 1, False, error="timed out")
    chats.record_delivery(handoff.id, "https://hooks.example/x", 2, True, status_code=204)
    assert [(d["attempt"], d["ok"], d["status_code"], d["error"]) for d in chats.deliveries(handoff.id)] == [
        (1, False, None, "timed out"), (2, True, 204, None)]


def test_feedback_becomes_training_examples(chats):
    sid = chats.start()
    chats.add_turn(sid, "user", "my card never came")
    good = chats.add_turn(sid, "bot", "Cards arrive in 3-5 days.", path="intent", intent="card_arrival", confidence=0.9)
    chats.add_turn(sid, "user", "can I pay with my phone")
    wrong = chats.add_turn(sid, "bot", "Top up with a bank transfer.", path="intent", intent="top_up", confidence=0.7)
    chats.add_turn(sid, "user", "thanks")
    meh = chats.add_turn(sid, "bot", "Anything else?", path="retrieval")

    chats.add_feedback(good.id, "visitor", helpful=True)
    chats.add_feedback(wrong.id, "visitor", helpful=False)  # says it was wrong, not what was right
    correction = chats.add_feedback(wrong.id, "admin", correct_intent="apple_pay")
    chats.add_feedback(meh.id, "visitor", helpful=True)  # not an intent answer: labels nothing

    examples = chats.training_examples()
    assert [(text, intent) for _, text, intent in examples] == [
        ("my card never came", "card_arrival"), ("can I pay with my phone", "apple_pay")]
    chats.mark_used([fid for fid, _, _ in examples])
    assert chats.training_examples() == []
    assert correction in [fid for fid, _, _ in chats.training_examples(unused_only=False)]


def test_feedback_must_say_something_and_name_a_bot_reply(chats):
    sid = chats.start()
    user_turn = chats.add_turn(sid, "user", "hi")
    with pytest.raises(NotFoundError):
        chats.add_feedback(user_turn.id, "visitor", helpful=True)
    bot_turn = chats.add_turn(sid, "bot", "Hello!", path="intent", intent="greeting")
    with pytest.raises(DataError, match="needs"):
        chats.add_feedback(bot_turn.id, "visitor")
    with pytest.raises(DataError, match="source"):
        chats.add_feedback(bot_turn.id, "robot", helpful=True)


def test_timestamps_come_from_the_clock_in_utc(db_engine):
    migrate(db_engine, MIGRATIONS, "customer_service_alembic_version")
    fixed = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    chats = Conversations(db_engine, clock=lambda: fixed)
    sid = chats.start()
    assert chats.add_turn(sid, "user", "hi").created_at == fixed
