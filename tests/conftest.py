"""Shared fixtures: tiny original data and small models trained once per test session."""

import os

# Tests never reach the network: models load from the packaged encoder only.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("TQDM_DISABLE", "1")

import csv
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

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
    return write_csv(path, [{"text": t, "category": l} for t, l in zip(texts, labels)])


@pytest.fixture(scope="session")
def fast_clf(tiny_data):
    from shared.classifier import FineTuneConfig, TextClassifier

    texts, labels = tiny_data
    return TextClassifier(config=FineTuneConfig(mode="fast")).fit(texts, labels, eval_data=(texts, labels), progress=False)


@pytest.fixture(scope="session")
def full_clf(tiny_data):
    """Full fine-tuning, stock HF architecture (cls pooling), a few quick epochs."""
    from shared.classifier import FineTuneConfig, TextClassifier

    texts, labels = tiny_data
    config = FineTuneConfig(mode="full", pooling="cls", epochs=3, learning_rate=2e-4, batch_size=16)
    return TextClassifier(config=config).fit(texts, labels, eval_data=(texts, labels), progress=False)


@pytest.fixture(scope="session")
def saved_fast(tmp_path_factory, fast_clf):
    return fast_clf.save(tmp_path_factory.mktemp("models") / "fast")
