"""Shared fixtures: tiny original data and small models trained once per test session."""

import os

# Tests never reach the network: models load from the packaged encoder only.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("TQDM_DISABLE", "1")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # make test runs one worker per core (pytest-xdist): a worker's torch, ONNX Runtime and FAISS
    # each taking every core would oversubscribe them. Read before torch is first imported.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import csv
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# live_server (waitress on loopback) and browser (headless Debian chromium via Selenium).
pytest_plugins = ["tests.web_fixtures"]

# Four made-up support intents, eight phrasings each (written for these tests).
INTENTS = {
    "card_arrival": [
        "where is my new card", "my card still has not arrived", "how long until the card is delivered",
        "the card you sent never came", "when will my debit card get here", "is my card in the post yet",
        "I am still waiting for my card", "track the delivery of my card",
    ],
    "top_up": [
        "how do I add money to my account", "top up my balance with a bank transfer", "can I top up using apple pay",
        "my top up did not go through", "add funds to my wallet", "what is the limit for topping up",
        "put twenty pounds on my account", "load cash onto the app",
    ],
    "refund": [
        "I want my money back for this order", "how do I request a refund", "the shop agreed to refund me but nothing came",
        "refund still not showing", "can you reverse this purchase", "get a refund for a cancelled booking",
        "a merchant owes me a refund", "when will the refund reach my account",
    ],
    "exchange_rate": [
        "what rate do you use for euros", "is the exchange rate fair", "how much is a dollar in pounds today",
        "why did I get a bad conversion rate", "currency conversion fees", "what exchange rate applies abroad",
        "do you charge extra for foreign currency", "the rate on my transfer looks wrong",
    ],
}


@pytest.fixture(scope="session")
def tiny_data():
    texts = [t for phrases in INTENTS.values() for t in phrases]
    labels = [label for label, phrases in INTENTS.items() for _ in phrases]
    return texts, labels


def write_csv(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory, tiny_data):
    """The tiny intents as a BANKING77-style CSV (columns text,category)."""
    texts, labels = tiny_data
    path = tmp_path_factory.mktemp("data") / "intents.csv"
    return write_csv(path, [{"text": text, "category": label} for text, label in zip(texts, labels)])


@pytest.fixture(scope="session")
def fast_clf(tiny_data):
    from shared.classifier import TextClassifier
    from shared.finetune_config import FineTuneConfig

    texts, labels = tiny_data
    return TextClassifier(config=FineTuneConfig(mode="fast")).fit(texts, labels, eval_data=(texts, labels), progress=False)


@pytest.fixture(scope="session")
def full_clf(tiny_data):
    """Full fine-tuning, stock HF architecture (cls pooling), a few quick epochs."""
    from shared.classifier import TextClassifier
    from shared.finetune_config import FineTuneConfig

    texts, labels = tiny_data
    config = FineTuneConfig(mode="full", pooling="cls", epochs=3, learning_rate=2e-4, batch_size=16)
    return TextClassifier(config=config).fit(texts, labels, eval_data=(texts, labels), progress=False)


@pytest.fixture(scope="session")
def embedder():
    """The packaged encoder, loaded once per test session (tests that embed real text share it)."""
    from shared.embeddings import Embedder

    return Embedder()


@pytest.fixture(scope="session")
def saved_fast(tmp_path_factory, fast_clf):
    return fast_clf.save(tmp_path_factory.mktemp("models") / "fast")


# --- Databases: every storage test runs on SQLite and on PostgreSQL ---------------------
#
# `db_url` is parametrised with the ids `sqlite` and `postgresql`. PostgreSQL comes from
# TROIKA_TEST_POSTGRES_URL (tests/throwaway_postgres.sh starts one; .ci/run does); each
# test gets a schema of its own, dropped afterwards, so tests never see each other's tables.
# Without the URL the postgresql cases skip and say why, unless TROIKA_TEST_REQUIRE_POSTGRES
# is set (CI), where a missing server is a failure, not a skip.

POSTGRES_URL_VAR = "TROIKA_TEST_POSTGRES_URL"


def postgres_url() -> str:
    url = os.environ.get(POSTGRES_URL_VAR, "")
    if not url:
        reason = f"{POSTGRES_URL_VAR} is not set: start a server with eval \"$(tests/throwaway_postgres.sh start)\""
        if os.environ.get("TROIKA_TEST_REQUIRE_POSTGRES"):
            pytest.fail(reason)
        pytest.skip(reason)
    return url


def _hold_postgres(request, url: str) -> None:
    """Under pytest-xdist the workers share one server. A case marked ``restarts_postgres``
    restarts it, so it takes the server alone (an exclusive lock) while every other
    PostgreSQL case holds a shared one; released when the case ends."""
    import fcntl
    import hashlib
    import tempfile

    path = Path(tempfile.gettempdir()) / f"troika-test-pg-{hashlib.sha256(url.encode()).hexdigest()[:12]}.lock"
    handle = open(path, "a")  # closed, and the lock released, by the finalizer
    exclusive = request.node.get_closest_marker("restarts_postgres") is not None
    fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
    request.addfinalizer(handle.close)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A SQLAlchemy URL of an empty database: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/test.db"
        return
    import uuid

    import sqlalchemy as sa

    base = sa.engine.make_url(postgres_url())
    _hold_postgres(request, str(base))
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, pool_pre_ping=True)  # survives the restart test
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    # search_path makes every unqualified table (and Alembic's version tables) live in the schema.
    yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    from shared.storage import _engines  # engines the test made through engine_for hold connections

    for url in [u for u in _engines if schema in u]:
        _engines.pop(url).dispose()
    with admin.begin() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()


@pytest.fixture
def db_engine(db_url):
    from shared.storage import make_engine

    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def pytest_terminal_summary(terminalreporter):
    """One line per database backend, so a CI log shows the postgresql cases ran, not skipped."""
    import re

    counts = {}
    for outcome in ("passed", "failed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            for backend in ("sqlite", "postgresql"):
                if re.search(rf"[\[-]{backend}[\]-]", getattr(report, "nodeid", "")) and report.when in ("call", "setup"):
                    if outcome == "passed" and report.when == "setup":
                        continue  # a passed case reports setup and call; count it once
                    counts.setdefault(backend, {}).setdefault(outcome, 0)
                    counts[backend][outcome] += 1
    for backend, by_outcome in counts.items():
        terminalreporter.write_line(f"database cases [{backend}]: " + ", ".join(f"{n} {o}" for o, n in sorted(by_outcome.items())))
