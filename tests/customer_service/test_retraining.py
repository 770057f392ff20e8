"""Feedback → troika cs retrain → the running server answers with the new model, no restart."""

import json

import pytest

from shared.artifacts import ArtifactStore

ADMIN_TOKEN = "retrain-test-token"
AGENT = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# A topic the demo bank has no intent for: corrections teach it as a new one.
DIRECT_DEBIT = ["how do I set up a direct debit", "I want to cancel a direct debit", "a direct debit was taken twice",
                "change the date of my direct debit", "where can I see my direct debits"]


@pytest.fixture
def served(tmp_path, db_url):
    """The demo bot as troika run serves it, with its app's test client."""
    from customer_service.plugin import make_plugin
    from shared.config import load_config
    from shared.server import build_app

    config = load_config(env={}, var_dir=tmp_path, testing=True, admin_token=ADMIN_TOKEN, apps=["customer_service"],
                         database_url=db_url)
    plugin = make_plugin(config)
    plugin.prepare()
    yield config, plugin, build_app(config, [plugin]).test_client()


def correct(client, message: str, intent: str) -> None:
    turn = client.post("/cs/api/chat", json={"message": message}).json["turn"]
    assert client.post(f"/cs/admin/turns/{turn['id']}/correction", json={"intent": intent}, headers=AGENT).status_code == 201


def test_corrections_teach_a_new_intent_and_the_server_switches_without_a_restart(served, capsys):
    from customer_service.plugin import model_store
    from shared.cli import main

    config, plugin, client = served
    store = model_store(config)
    first = store.active()
    assert first is not None and len(ArtifactStore(store.root).versions()) == 1
    for text in DIRECT_DEBIT:
        correct(client, text, "direct_debit")

    (config.var_dir / "troika.toml").write_text(f'var_dir = "{config.var_dir}"\ndatabase_url = "{config.database_url}"\n')
    assert main(["--quiet", "cs", "retrain", "--config", str(config.var_dir / "troika.toml")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["promoted"] is True and report["new_intents"] == ["direct_debit"]
    assert report["new"]["accuracy"] >= report["old"]["accuracy"]
    assert store.active() != first

    holder = plugin.state  # the BotHolder the chat service asks
    holder.watcher.check()  # what the watcher thread does every reload_seconds (it may have got there first)
    assert holder.version == store.active()
    assert "direct_debit" in holder.bot.detector.intents_
    body = client.post("/cs/api/chat", json={"message": "please stop my direct debit"}).json
    assert body["intent"] == "direct_debit"  # no answer is written for it yet, so a person takes it
    assert body["path"] == "handoff"
    still = client.post("/cs/api/chat", json={"message": "I lost my card"}).json
    assert (still["path"], still["intent"]) == ("intent", "card_lost")


def test_retrain_without_feedback_says_what_is_missing(served):
    from customer_service.conversations import Conversations
    from customer_service.plugin import model_store
    from customer_service.retraining import retrain
    from shared.errors import DataError
    from shared.storage import engine_for

    config, _, _ = served
    with pytest.raises(DataError, match="no feedback"):
        retrain(model_store(config), Conversations(engine_for(config.database_url)), progress=False)


def test_a_candidate_below_the_bar_is_saved_but_not_promoted(served):
    from customer_service.conversations import Conversations
    from customer_service.plugin import model_store
    from customer_service.retraining import retrain
    from shared.storage import engine_for

    config, plugin, client = served
    for text in DIRECT_DEBIT:
        correct(client, text, "direct_debit")
    store = model_store(config)
    active = store.active()
    chats = Conversations(engine_for(config.database_url))
    # A negative tolerance demands a gain no model can make (accuracy + 1): the gate must hold.
    result = retrain(store, chats, tolerance=-1.0, progress=False)
    assert result.promoted is False and "worse" in result.summary()
    assert store.active() == active and result.version.exists()
    assert plugin.state.watcher.check() is False  # nothing to pick up
    assert len(chats.training_examples(unused_only=True)) == len(DIRECT_DEBIT)  # kept for the next try


def test_a_corrupted_version_made_active_is_refused_and_the_old_model_keeps_serving(served, caplog):
    import shutil

    from customer_service.plugin import model_store
    from shared.artifacts import write_text_atomic

    config, plugin, client = served
    store = model_store(config)
    serving = store.active()
    bad = store.root / "vbroken"
    shutil.copytree(serving, bad)
    (bad / "scorers.safetensors").write_bytes(b"\0" + (bad / "scorers.safetensors").read_bytes()[1:])
    write_text_atomic(store.root / "ACTIVE", "vbroken\n")  # as if someone pointed ACTIVE at it by hand
    assert plugin.state.watcher.check() is False
    assert "could not load" in caplog.text
    assert plugin.state.version == serving  # still the verified one
    body = client.post("/cs/api/chat", json={"message": "I lost my card"}).json
    assert (body["path"], body["intent"]) == ("intent", "card_lost")
