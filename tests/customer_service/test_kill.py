"""kill -9 of `troika run` in the middle of conversations: every turn the API acknowledged is stored."""

import http.client
import json
import os
import signal
import threading
import time
import urllib.request

import sqlalchemy as sa

from tests.troika_process import free_port, post, start_troika

MESSAGES = ["I lost my card", "where is my new card", "how much does a transfer cost", "hello", "card"]


def start_server(tmp_path, db_url: str):
    port = free_port()
    config = tmp_path / "troika.toml"
    config.write_text(f'apps = ["customer_service"]\nvar_dir = "{tmp_path / "var"}"\nport = {port}\n'
                      f'database_url = "{db_url}"\n[customer_service]\nrate_limit = "10000/second"\n')
    return start_troika(config, port)  # the first start trains the demo bot


def test_kill_9_mid_conversation_loses_no_acknowledged_turn(tmp_path, db_url):
    process, base = start_server(tmp_path, db_url)
    acknowledged: list[tuple[str, int, str]] = []  # (session, turn id, text) for every 200 received
    lock = threading.Lock()

    def visitor(n: int) -> None:
        session = None
        for i in range(1000):
            text = f"{MESSAGES[i % len(MESSAGES)]} ({n}.{i})"
            try:
                body = post(f"{base}/cs/api/chat", {"session_id": session, "message": text} if session else {"message": text})
            except (OSError, http.client.HTTPException):  # a reply cut off by the kill is an IncompleteRead
                return  # the server is gone: this message was never acknowledged
            session = body["session_id"]
            with lock:
                acknowledged.append((session, body["message"]["id"], text))
                if body["turn"] is not None:  # None while a person has the conversation
                    acknowledged.append((session, body["turn"]["id"], body["reply"]))

    visitors = [threading.Thread(target=visitor, args=(n,)) for n in range(4)]
    for thread in visitors:
        thread.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 60 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)  # mid-conversation: requests are in flight
    process.wait(timeout=10)
    for thread in visitors:
        thread.join(timeout=60)

    with lock:
        expected = list(acknowledged)
    assert len(expected) >= 60
    engine = sa.create_engine(db_url)
    with engine.connect() as c:
        stored = {row.id: (row.session_id, row.text) for row in c.execute(sa.text("SELECT id, session_id, text FROM cs_turns"))}
    engine.dispose()
    missing = [(s, i, t) for s, i, t in expected if stored.get(i) != (s, t)]
    assert missing == []
    if db_url.startswith("sqlite"):
        engine = sa.create_engine(db_url)
        with engine.connect() as c:
            assert c.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
        engine.dispose()

    # The restarted server serves the same sessions on from where they were.
    process, base = start_server(tmp_path, db_url)
    try:
        session = expected[-1][0]
        body = post(f"{base}/cs/api/chat", {"session_id": session, "message": "I lost my card"})
        assert body["session_id"] == session
        with urllib.request.urlopen(f"{base}/cs/api/sessions/{session}/messages", timeout=10) as response:
            turns = json.loads(response.read())["messages"]
        ids = [t["id"] for t in turns]
        assert {i for s, i, _ in expected if s == session} <= set(ids)
    finally:
        process.terminate()
        process.wait(timeout=30)
