"""kill -9 of `troika run` while clients write feedback and items: every record the API acknowledged
is stored once, each request's records are all stored or none, and the restarted server serves them."""

import http.client
import os
import signal
import threading
import time
import urllib.error

import sqlalchemy as sa

from tests.troika_process import free_port, get, post, start_troika

KEY = "rec-kill-key-0123456789"
HEADERS = {"X-API-Key": KEY}
DEMO_ITEMS = [f"f{i:02d}" for i in range(1, 61)]  # recommender/demo/items.csv
PER_USER = 30  # requests per user; each clicks two demo items no other request of that user does


def start_server(tmp_path, db_url: str):
    port = free_port()
    config = tmp_path / "troika.toml"
    # Content ranking and no retrain job: the server only serves and stores (the demo catalogue
    # gives the feedback items to point at); a limit no client thread reaches.
    config.write_text(f'apps = ["recommender"]\nvar_dir = "{tmp_path / "var"}"\nport = {port}\ndatabase_url = "{db_url}"\n'
                      f'[recommender]\napi_key = "{KEY}"\nretrain_every = 0\nranking = "content"\nrate_limit = "100000/second"\n')
    return start_troika(config, port)


def clicks(writer: int, i: int) -> list[dict]:
    """Request ``i`` of feedback writer ``writer``: one user's clicks on two items, keys of their own."""
    user, pair = f"u{writer}-{i // PER_USER}", i % PER_USER
    return [{"FeedbackType": "click", "UserId": user, "ItemId": DEMO_ITEMS[2 * pair + k], "Value": float(i + 1),
             "Timestamp": "2026-04-01T10:00:00Z"} for k in (0, 1)]


def item(writer: int, i: int) -> dict:
    return {"ItemId": f"new-{writer}-{i}", "Categories": ["kill"], "Timestamp": "2026-04-01T10:00:00Z", "Labels": [],
            "Comment": f"Item {i} of writer {writer}: a field guide to the mosses of north-facing walls"}


def test_kill_9_mid_writes_loses_no_acknowledged_record_and_duplicates_none(tmp_path, db_url):
    process, base = start_server(tmp_path, db_url)
    sent: list[list[dict]] = []  # every feedback request started: each is stored whole or not at all
    acked_feedback: list[dict] = []  # records of the requests answered 200
    acked_items: list[dict] = []
    refused: list[str] = []  # an error status before the kill is a failure, not a lost race
    lock = threading.Lock()

    def write(path: str, body, acked: list, records: list) -> bool:
        try:
            post(f"{base}/rec/api/{path}", body, HEADERS)
        except urllib.error.HTTPError as exc:
            with lock:
                refused.append(f"{path}: {exc.code} {exc.read()[:200]!r}")
            return False
        except (OSError, http.client.HTTPException):  # refused, reset or cut off by the kill: not acknowledged
            return False
        with lock:
            acked.extend(records)
        return True

    def feedback_writer(n: int) -> None:
        for i in range(100_000):
            body = clicks(n, i)
            with lock:
                sent.append(body)
            if not write("feedback", body, acked_feedback, body):
                return

    def item_writer(n: int) -> None:
        for i in range(100_000):
            if not write("item", item(n, i), acked_items, [item(n, i)]):
                return

    writers = [threading.Thread(target=feedback_writer, args=(n,)) for n in range(3)]
    writers.append(threading.Thread(target=item_writer, args=(0,)))
    for thread in writers:
        thread.start()
    deadline = time.monotonic() + 60
    while (len(acked_feedback) < 600 or len(acked_items) < 30) and not refused and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)  # after a few seconds of writes, with requests in flight
    process.wait(timeout=10)
    for thread in writers:
        thread.join(timeout=60)

    assert refused == []
    assert len(acked_feedback) >= 600 and len(acked_items) >= 30
    engine = sa.create_engine(db_url)
    with engine.connect() as c:
        if db_url.startswith("sqlite"):
            assert c.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
        stored = [tuple(r) for r in c.execute(sa.text("SELECT type, user_id, item_id, value FROM rec_feedback WHERE user_id LIKE 'u%-%'"))]
        items = {r.id: r.title for r in c.execute(sa.text("SELECT id, title FROM rec_items WHERE id LIKE 'new-%'"))}
    engine.dispose()
    keys = [(t, u, i) for t, u, i, _ in stored]
    assert len(keys) == len(set(keys))  # once each
    values = {(t, u, i): v for t, u, i, v in stored}
    assert [f for f in acked_feedback if values.get(("click", f["UserId"], f["ItemId"])) != f["Value"]] == []
    whole = [[("click", f["UserId"], f["ItemId"]) in values for f in body] for body in sent]
    assert [w for w in whole if any(w) != all(w)] == []  # no request half stored
    assert [i["ItemId"] for i in acked_items if items.get(i["ItemId"]) != i["Comment"]] == []

    # The restarted server serves what was acknowledged.
    process, base = start_server(tmp_path, db_url)
    try:
        by_user: dict[str, set[str]] = {}
        for f in acked_feedback:
            by_user.setdefault(f["UserId"], set()).add(f["ItemId"])
        for user, clicked in by_user.items():
            served = get(f"{base}/rec/api/user/{user}/feedback", HEADERS)
            assert clicked <= {f["ItemId"] for f in served}, user
        for new in acked_items[-5:]:
            assert get(f"{base}/rec/api/item/{new['ItemId']}", HEADERS)["Comment"] == new["Comment"]
    finally:
        process.terminate()
        process.wait(timeout=30)
