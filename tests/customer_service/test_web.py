"""The chat API and the agents' API, with a scripted bot standing in for the trained one."""

import hashlib
from pathlib import Path

import pytest

import customer_service
from customer_service.conversations import Conversations
from customer_service.service import BotReply, ChatService, HandoffNotifier
from customer_service.web import make_blueprint
from shared.config import load_config
from shared.server import Plugin, build_app
from shared.storage import migrate

ADMIN_TOKEN = "agents-token-for-tests-0123456789"
AGENT = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class ScriptedBot:
    """Answers by keyword, so each test can reach the path it needs."""

    def respond(self, text, history):
        text = text.lower()
        if "explode" in text:
            raise RuntimeError("model crashed")
        if "card" in text:
            return BotReply("Cards arrive in 3-5 working days.", "intent", intent="card_arrival", confidence=0.93)
        if "fee" in text:
            return BotReply("Did you mean a transfer fee or a card fee?", "clarify", details={"choices": ["transfer fee", "card fee"]})
        if "opening hours" in text:
            return BotReply("We are open 9-17 on weekdays.", "retrieval", confidence=0.71,
                            details={"sources": [{"title": "Opening hours", "url": "https://help.example/hours"}]})
        return BotReply("I'm passing you to a member of our team.", "handoff", details={"reason": "no confident answer"})


SCRIPTED_BOT = ScriptedBot()  # None passed as bot means no bot loaded


def make_app(tmp_path, db_url, *, bot=SCRIPTED_BOT, webhook=None, app_settings=None, **settings):
    config = load_config(env={}, var_dir=tmp_path, testing=True, admin_token=ADMIN_TOKEN, apps=["customer_service"],
                         database_url=db_url, **settings)
    from shared.storage import engine_for

    engine = engine_for(db_url)
    migrate(engine, Path(customer_service.__file__).parent / "migrations", "customer_service_alembic_version")
    chats = Conversations(engine)
    notifier = HandoffNotifier(chats, webhook, backoff=0.01) if webhook else None
    service = ChatService(chats, bot=lambda: bot, notifier=notifier)
    blueprint, spec = make_blueprint(service, cors_origins=config.cors_origins, settings=app_settings)
    plugin = Plugin(name="customer_service", title="Support chat", description="test", blueprint=blueprint,
                    url_prefix="/cs", api_spec=spec)
    app = build_app(config, [plugin])
    app.extensions["test.service"] = service
    return app


@pytest.fixture
def app(tmp_path, db_url):
    return make_app(tmp_path, db_url)


@pytest.fixture
def client(app):
    return app.test_client()


def start(client):
    return client.application.extensions["test.service"].start({"page": "/pricing"})


def say(client, session_id, text, **extra):
    return client.post("/cs/api/chat", json={"message": text, "session_id": session_id, **extra})


def test_a_first_message_starts_a_session_and_the_answer_says_its_path(client):
    response = client.post("/cs/api/chat", json={"message": "where is my card?"})
    assert response.status_code == 200
    body = response.json
    sid = body["session_id"]
    assert body["message"]["text"] == "where is my card?" and body["message"]["role"] == "user"
    assert (body["path"], body["intent"], body["reply"], body["confidence"]) == (
        "intent", "card_arrival", "Cards arrive in 3-5 working days.", 0.93)
    history = client.get(f"/cs/api/sessions/{sid}/messages").json
    assert history["status"] == "bot"
    assert [m["role"] for m in history["messages"]] == ["user", "bot"]
    assert client.get(f"/cs/api/sessions/{sid}/messages?after={body['message']['id']}").json["messages"][0]["id"] == body["turn"]["id"]
    assert say(client, sid, "and my card?").json["session_id"] == sid


def test_clarify_and_retrieval_replies_carry_their_choices_and_sources(client):
    sid = start(client)
    clarify = say(client, sid, "what is the fee").json
    assert clarify["path"] == "clarify" and clarify["choices"] == ["transfer fee", "card fee"]
    retrieval = say(client, sid, "opening hours?").json
    assert retrieval["path"] == "retrieval"
    assert retrieval["sources"] == [{"title": "Opening hours", "url": "https://help.example/hours"}]


def test_a_resent_message_is_answered_once_with_the_same_reply(client):
    sid = start(client)
    first = say(client, sid, "where is my card?", client_id="m-1").json
    again = say(client, sid, "where is my card?", client_id="m-1").json
    assert again["message"]["id"] == first["message"]["id"] and again["turn"]["id"] == first["turn"]["id"]
    assert len(client.get(f"/cs/api/sessions/{sid}/messages").json["messages"]) == 2


def test_handoff_then_a_person_answers_in_the_same_conversation(client):
    sid = start(client)
    handed = say(client, sid, "I need to talk about something unusual").json
    assert handed["path"] == "handoff" and handed["handoff"]["status"] == "open"
    waiting = say(client, sid, "hello? anyone?").json
    assert waiting["reply"] is None and waiting["notice"] and waiting["handoff"]["id"] == handed["handoff"]["id"]

    assert client.get("/cs/admin/handoffs").status_code == 401
    listed = client.get("/cs/admin/handoffs?status=open", headers=AGENT).json["handoffs"]
    assert [h["id"] for h in listed] == [handed["handoff"]["id"]]
    hid = listed[0]["id"]
    detail = client.get(f"/cs/admin/handoffs/{hid}", headers=AGENT).json
    assert [t["text"] for t in detail["transcript"] if t["role"] == "user"] == ["I need to talk about something unusual", "hello? anyone?"]

    assert client.post(f"/cs/admin/handoffs/{hid}/claim", json={"agent": "alice"}, headers=AGENT).json["status"] == "claimed"
    taken = client.post(f"/cs/admin/handoffs/{hid}/claim", json={"agent": "bob"}, headers=AGENT)
    assert taken.status_code == 409 and taken.json["error"]["code"] == "conflict"
    reply = client.post(f"/cs/admin/handoffs/{hid}/reply", json={"agent": "alice", "text": "Hi, Alice here."}, headers=AGENT)
    assert reply.status_code == 201
    seen = client.get(f"/cs/api/sessions/{sid}/messages?after={waiting['message']['id']}").json
    assert [(m["role"], m["text"]) for m in seen["messages"]] == [("agent", "Hi, Alice here.")]

    assert client.post(f"/cs/admin/handoffs/{hid}/resolve", json={"agent": "alice"}, headers=AGENT).json["status"] == "resolved"
    assert say(client, sid, "and my card?").json["path"] == "intent"  # the bot is back


def test_a_failing_bot_hands_off_and_loses_nothing(client):
    sid = start(client)
    body = say(client, sid, "please explode").json
    assert body["path"] == "handoff" and body["handoff"]["reason"] == "the bot failed on this message"
    assert [m["text"] for m in client.get(f"/cs/api/sessions/{sid}/messages").json["messages"]][0] == "please explode"


def test_no_bot_loaded_still_answers_by_handing_off(tmp_path, db_url):
    client = make_app(tmp_path, db_url, bot=None).test_client()
    body = say(client, start(client), "where is my card?").json
    assert body["path"] == "handoff" and body["handoff"]["reason"] == "no bot model is loaded"


@pytest.mark.parametrize("payload, status, field", [
    ({"message": ""}, 400, "message"),
    ({"message": "x" * 4001}, 400, "message"),
    ({"message": 42}, 400, "message"),
    ({"message": "hi", "client_id": "has spaces"}, 400, "client_id"),
    ({"message": "hi", "surprise": 1}, 400, "surprise"),
    ({}, 400, "message"),
])
def test_bad_messages_get_a_400_naming_the_field_and_store_nothing(client, payload, status, field):
    sid = start(client)
    response = client.post("/cs/api/chat", json={"session_id": sid, **payload})
    assert response.status_code == status and response.json["error"]["field"] == field
    assert client.get(f"/cs/api/sessions/{sid}/messages").json["messages"] == []


def test_wrong_content_type_unknown_session_and_wrong_method(client):
    sid = start(client)
    assert client.post("/cs/api/chat", data="message=hi").status_code == 415
    missing = say(client, "no-such-session", "hi")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    assert client.delete(f"/cs/api/sessions/{sid}/messages").status_code == 405
    assert client.get("/cs/api/chat").status_code == 405
    assert client.get(f"/cs/api/sessions/{sid}/messages?after=-1").status_code == 400


def test_feedback_from_visitors_and_corrections_from_agents(app, client):
    sid = start(client)
    reply = say(client, sid, "where is my card?").json["turn"]
    assert client.post(f"/cs/api/sessions/{sid}/feedback", json={"turn_id": reply["id"], "helpful": True}).status_code == 201
    other = start(client)
    stolen = client.post(f"/cs/api/sessions/{other}/feedback", json={"turn_id": reply["id"], "helpful": False})
    assert stolen.status_code == 404  # a visitor rates their own conversation only
    assert client.post(f"/cs/admin/turns/{reply['id']}/correction", json={"intent": "card_delivery"}).status_code == 401
    assert client.post(f"/cs/admin/turns/{reply['id']}/correction", json={"intent": "card_delivery"}, headers=AGENT).status_code == 201
    examples = app.extensions["test.service"].chats.training_examples()
    assert [(text, intent) for _, text, intent in examples] == [("where is my card?", "card_arrival"), ("where is my card?", "card_delivery")]


def test_cors_only_for_the_visitor_api_and_configured_origins(tmp_path, db_url):
    client = make_app(tmp_path, db_url, cors_origins=["https://shop.example"]).test_client()
    allowed = client.post("/cs/api/chat", json={"message": "hi"}, headers={"Origin": "https://shop.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    preflight = client.options("/cs/api/chat", headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
                                                        "Access-Control-Request-Headers": "Content-Type"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Access-Control-Allow-Origin" not in client.post("/cs/api/chat", json={"message": "hi"}, headers={"Origin": "https://evil.example"}).headers
    admin = client.get("/cs/admin/handoffs", headers={**AGENT, "Origin": "https://shop.example"})
    assert "Access-Control-Allow-Origin" not in admin.headers


def test_a_handoff_is_posted_to_the_webhook_and_every_attempt_recorded(tmp_path, db_url, webhook_receiver):
    receiver = webhook_receiver((500, {}), (200, {}))
    app = make_app(tmp_path, db_url, webhook=receiver.url)
    client = app.test_client()
    sid = start(client)
    handoff = say(client, sid, "something unusual").json["handoff"]
    service = app.extensions["test.service"]
    service.notifier.close()  # waits for the background delivery
    deliveries = service.chats.deliveries(handoff["id"])
    assert [(d["attempt"], d["ok"], d["status_code"]) for d in deliveries] == [(1, False, 500), (2, True, 200)]
    payload = receiver.received[-1][1]
    assert f"Handoff #{handoff['id']}" in payload["text"] and payload["transcript"][0]["text"] == "something unusual"


def test_the_openapi_description_covers_every_json_route(client):
    spec = client.get("/cs/api/openapi/openapi.json").json
    assert {"/cs/api/chat", "/cs/webhooks/rest/webhook", "/cs/api/sessions/{session_id}/messages", "/cs/api/sessions/{session_id}/feedback",
            "/cs/admin/handoffs", "/cs/admin/handoffs/{handoff_id}/claim", "/cs/admin/turns/{turn_id}/correction"} <= set(spec["paths"])
    assert "ErrorOut" in " ".join(spec["components"]["schemas"])


def test_the_widget_script_is_served_for_embedding(client):
    response = client.get("/cs/widget.js")
    assert response.status_code == 200 and "textContent" in response.get_data(as_text=True)
    assert "innerHTML" not in response.get_data(as_text=True).split("*/", 1)[1]
    assert client.get("/cs/").status_code == 200


def test_the_rasa_rest_channel_answers_like_rasa(client):
    first = client.post("/cs/webhooks/rest/webhook", json={"sender": "user-42", "message": "what is the fee"})
    assert first.status_code == 200
    assert first.json == [{"recipient_id": "user-42", "text": "Did you mean a transfer fee or a card fee?",
                           "buttons": [{"title": "transfer fee", "payload": "transfer fee"}, {"title": "card fee", "payload": "card fee"}]}]
    second = client.post("/cs/webhooks/rest/webhook", json={"sender": "user-42", "message": "card fee, where is my card"}).json
    assert second == [{"recipient_id": "user-42", "text": "Cards arrive in 3-5 working days."}]
    chats = client.application.extensions["test.service"].chats
    session_id = "rasa-" + hashlib.sha256(b"user-42").hexdigest()[:40]  # one conversation per Rasa sender
    assert [t.role for t in chats.history(session_id)] == ["user", "bot", "user", "bot"]


def test_chat_is_rate_limited_per_client_with_retry_after(tmp_path, db_url):
    client = make_app(tmp_path, db_url, app_settings={"rate_limit": "3/minute"}).test_client()
    codes = [client.post("/cs/api/chat", json={"message": "where is my card?"}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    refused = client.post("/cs/api/chat", json={"message": "where is my card?"})
    assert refused.json["error"]["code"] == "too_many_requests" and int(refused.headers["Retry-After"]) >= 1


def intent_bot(detector, **options):
    """The real bot on the tiny detector (conftest), with answers for its three intents."""
    from customer_service.bot import IntentBot
    from customer_service.response_files import Responses

    responses = Responses({"lost_card": ["Freeze it now; a person will help you replace it."],
                           "open_account": ["Open one in the app in five minutes."], "interest_rate": ["We pay 3% a year."]})
    return IntentBot(detector, responses, **options)


def test_an_intent_configured_to_hand_off_opens_a_handoff_and_the_next_message_waits(tmp_path, db_url, detector):
    client = make_app(tmp_path, db_url, bot=intent_bot(detector, handoff_intents=["lost_card"])).test_client()
    asked = client.post("/cs/api/chat", json={"message": "I lost my card"}).json
    assert (asked["path"], asked["intent"]) == ("handoff", "lost_card")
    assert asked["reply"] == "Freeze it now; a person will help you replace it."  # the intent's own answer
    assert asked["handoff"]["status"] == "open" and "lost_card hands off" in asked["handoff"]["reason"]
    listed = client.get("/cs/admin/handoffs?status=open", headers=AGENT).json["handoffs"]
    assert [(h["id"], h["session_id"]) for h in listed] == [(asked["handoff"]["id"], asked["session_id"])]
    waiting = say(client, asked["session_id"], "how do I open an account").json
    assert waiting["reply"] is None and waiting["handoff"]["id"] == asked["handoff"]["id"]  # no greeting: a person has it


def test_an_out_of_scope_message_gets_a_reply_offering_a_person_and_the_offer_hands_off(tmp_path, db_url, detector):
    client = make_app(tmp_path, db_url, bot=intent_bot(detector)).test_client()
    offered = client.post("/cs/api/chat", json={"message": "what is the capital of peru"}).json
    assert offered["path"] == "out_of_scope" and offered["handoff"] is None
    assert offered["choices"] == ["talk to a person"] and offered["reply"].endswith("shall I pass you to a person?")
    assert "lost card" in offered["reply"]  # what the bot can help with, from its answers
    assert client.get("/cs/admin/handoffs", headers=AGENT).json["handoffs"] == []
    taken = say(client, offered["session_id"], "talk to a person").json
    assert taken["path"] == "handoff" and taken["handoff"]["reason"] == "the visitor accepted the offer of a person"
    assert say(client, offered["session_id"], "hello?").json["reply"] is None


def test_an_out_of_scope_offer_declined_leaves_the_bot_answering(tmp_path, db_url, detector):
    client = make_app(tmp_path, db_url, bot=intent_bot(detector)).test_client()
    sid = client.post("/cs/api/chat", json={"message": "tell me a joke about penguins"}).json["session_id"]
    assert say(client, sid, "what interest do you pay on savings").json["path"] == "intent"


def test_oos_action_handoff_hands_an_out_of_scope_message_to_a_person_at_once(tmp_path, db_url, detector):
    client = make_app(tmp_path, db_url, bot=intent_bot(detector, oos_action="handoff")).test_client()
    body = client.post("/cs/api/chat", json={"message": "what is the capital of peru"}).json
    assert body["path"] == "handoff" and body["handoff"]["status"] == "open" and body["choices"] == []


def test_an_unknown_oos_action_is_a_config_error(detector):
    from shared.errors import ConfigError

    with pytest.raises(ConfigError, match="oos_action"):
        intent_bot(detector, oos_action="ignore")


def test_a_client_may_name_a_new_session_with_a_long_enough_id(client):
    named = "widget-7f3a9c2e_b41d"  # 20 characters of [A-Za-z0-9_-]
    first = say(client, named, "where is my card?")
    assert first.status_code == 200 and first.json["session_id"] == named
    assert say(client, named, "and my card?").json["session_id"] == named  # the same conversation, not a second one
    history = client.get(f"/cs/api/sessions/{named}/messages").json
    assert [m["role"] for m in history["messages"]] == ["user", "bot", "user", "bot"]


@pytest.mark.parametrize("session_id, status", [("sixteen-chars-ok", 200), ("fifteen-chars-x", 404), ("dots.are.not.allowed.here", 404),
                                                 ("has spaces in it, long enough", 400), ("x" * 65, 400)])
def test_an_unknown_session_id_is_created_only_when_it_is_a_valid_client_id(client, session_id, status):
    response = say(client, session_id, "where is my card?")
    assert response.status_code == status
    if status == 404:
        assert "16 to 64 characters" in response.json["error"]["message"]
    if status == 400:
        assert response.json["error"]["field"] == "session_id"


def test_the_agents_inbox_page_is_served_without_data_and_renders_text_only(client):
    page = client.get("/cs/agents/")
    assert page.status_code == 200 and "Agents' inbox" in page.get_data(as_text=True)
    script = client.get("/cs/static/customer_service/agents.js").get_data(as_text=True)
    assert "textContent" in script and "innerHTML" not in script


def test_a_plain_yes_to_the_offer_of_a_person_hands_off(tmp_path, db_url, detector):
    client = make_app(tmp_path, db_url, bot=intent_bot(detector)).test_client()
    sid = client.post("/cs/api/chat", json={"message": "play my workout playlist"}).json["session_id"]
    assert say(client, sid, "Yes please.").json["path"] == "handoff"
