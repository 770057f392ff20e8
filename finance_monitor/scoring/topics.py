"""Which topics an article belongs to: ticker and keyword rules, plus embedding similarity.

Topics come from the ``[[finance_monitor.topics]]`` tables of troika.toml (or
``DEFAULT_TOPICS`` for the demo and replay)::

    [[finance_monitor.topics]]
    name = "banks"                                  # letters, digits, - and _
    description = "Banks and lenders: earnings, ..."  # compared with each article's text
    keywords = ["bank", "banks", "lender"]          # whole words or phrases, any case
    tickers = ["JPM", "GS"]                         # matched against the article's tickers and $CASHTAGS

``TopicAssigner.assign(text, tickers)`` returns ``(topic, method, score)`` triples, the shape
``MonitorStore.set_topics`` takes, one per topic, by the first rule that matches:

- ``ticker``  (score 1.0): a topic ticker is among the article's tickers or cashtags;
- ``keyword`` (score 1.0): a keyword occurs as a whole word or phrase (case-insensitive);
- ``embedding`` (score = cosine similarity): the text's sentence embedding is at least
  ``threshold`` similar to the topic description's (computed once per assigner).

An article may belong to several topics, and always belongs to the general-market topic
(method ``general``, score 1.0), so market-wide negativity is tracked even for stories no
configured topic covers. Pass the headline plus the description or lead, not a whole body:
a passing mention deep in a long article should not make it a topic's story.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from shared.errors import ConfigError

from ..config_tables import Names, no_unknown_keys, tables

GENERAL_TOPIC = "general-market"
# Cosine similarity of all-MiniLM-L6-v2 between a headline and a one-sentence topic description.
# On a handful of hand-written headlines against the default topics, clearly related pairs
# scored 0.30-0.55 and unrelated ones at most 0.25: a first guess, not tuned on labelled data.
DEFAULT_THRESHOLD = 0.3
CONFIG_KEY = "finance_monitor.topics"
_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z][A-Za-z.]{0,9})\b")
_FIELDS = ("name", "description", "keywords", "tickers")


class Assignment(NamedTuple):
    topic: str
    method: str  # "ticker", "keyword", "embedding" or "general"
    score: float


@dataclass(frozen=True)
class Topic:
    name: str
    description: str = ""
    keywords: tuple[str, ...] = ()
    tickers: tuple[str, ...] = ()


def _strings(where: str, value) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}: must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def topics_from_config(entries) -> list[Topic]:
    """Topics from the ``[[finance_monitor.topics]]`` tables; a bad entry is a ConfigError naming its key."""
    shape = f"a topic has {', '.join(_FIELDS)}"
    topics, names = [], Names("topic", reserved={GENERAL_TOPIC: "the general topic every article already has"})
    for where, entry in tables(entries, CONFIG_KEY, shape):
        no_unknown_keys(where, entry, _FIELDS, shape)
        name = names.take(where, entry.get("name"))
        description = entry.get("description", "")
        if not isinstance(description, str):
            raise ConfigError(f"{where}.description: must be a string")
        keywords = _strings(f"{where}.keywords", entry.get("keywords", []))
        tickers = tuple(t.upper().lstrip("$") for t in _strings(f"{where}.tickers", entry.get("tickers", [])))
        if not (description.strip() or keywords or tickers):
            raise ConfigError(f"{where}: topic {name!r} needs a description, keywords or tickers, or nothing can match it")
        topics.append(Topic(name, description.strip(), keywords, tickers))
    return topics


def cashtags(text: str) -> set[str]:
    """Ticker symbols written as $AAPL in a text, upper-cased."""
    return {m.upper() for m in _CASHTAG.findall(text)}


class TopicAssigner:
    """Assigns articles to topics; build once (description vectors are cached), call per batch.

    ``threshold=None`` turns embedding similarity off (rules only, no model loaded).
    ``embedder``: a ``shared.embeddings.Embedder``; the packaged default when not given.
    """

    def __init__(self, topics: Sequence[Topic] | None = None, embedder=None, *, threshold: float | None = DEFAULT_THRESHOLD):
        self.topics = list(topics_from_config(DEFAULT_TOPICS) if topics is None else topics)
        if threshold is not None and not -1 <= threshold <= 1:
            raise ConfigError(f"topic similarity threshold must be between -1 and 1 (cosine), got {threshold}")
        self.threshold = threshold
        self._keyword_patterns = {
            # Look-arounds instead of \b, so keywords that start or end with a symbol ("s&p", "u.s.") still match whole.
            t.name: re.compile(r"(?<!\w)(?:" + "|".join(re.escape(k) for k in t.keywords) + r")(?!\w)", re.IGNORECASE)
            for t in self.topics if t.keywords
        }
        self._described = [t for t in self.topics if t.description]
        if threshold is not None and self._described and embedder is None:
            from shared.embeddings import Embedder

            embedder = Embedder()
        self.embedder = embedder
        self._description_vectors = None
        self._lock = threading.Lock()

    def description_vectors(self) -> np.ndarray:
        if self._description_vectors is None:
            with self._lock:
                if self._description_vectors is None:
                    self._description_vectors = self.embedder.encode([t.description for t in self._described])
        return self._description_vectors

    def assign(self, text: str, tickers: Iterable[str] = ()) -> list[Assignment]:
        return self.assign_many([text], [tickers])[0]

    def assign_many(self, texts: Sequence[str], tickers: Sequence[Iterable[str]] | None = None) -> list[list[Assignment]]:
        """One list of assignments per text, the general topic first; texts are embedded in one batch."""
        texts = list(texts)
        tickers = [()] * len(texts) if tickers is None else list(tickers)
        if len(tickers) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(tickers)} ticker lists")
        similarities = None
        if self.threshold is not None and self._described and texts:
            similarities = self.embedder.encode(texts) @ self.description_vectors().T
        described_index = {t.name: j for j, t in enumerate(self._described)}
        out = []
        for i, text in enumerate(texts):
            symbols = {s.upper().lstrip("$") for s in tickers[i]} | cashtags(text)
            found = [Assignment(GENERAL_TOPIC, "general", 1.0)]
            for topic in self.topics:
                pattern = self._keyword_patterns.get(topic.name)
                if symbols.intersection(topic.tickers):
                    found.append(Assignment(topic.name, "ticker", 1.0))
                elif pattern is not None and pattern.search(text):
                    found.append(Assignment(topic.name, "keyword", 1.0))
                elif similarities is not None and topic.name in described_index:
                    score = float(similarities[i, described_index[topic.name]])
                    if score >= self.threshold:
                        found.append(Assignment(topic.name, "embedding", round(score, 4)))
            out.append(found)
        return out


# Default topics for the demo and the replay of the dev stream (original wording).
DEFAULT_TOPICS = [
    {
        "name": "markets",
        "description": "Stock markets as a whole: share indices rising or falling, investors selling or buying equities, bond yields and futures.",
        "keywords": ["stocks", "stock market", "equities", "wall street", "dow", "s&p 500", "nasdaq", "ftse", "nikkei", "sell-off", "selloff",
                     "bond yields", "treasury yields"],
    },
    {
        "name": "banks",
        "description": "Banks and lenders: their earnings, loan losses, capital, fines and the health of the banking system.",
        "keywords": ["bank", "banks", "banking", "lender", "lenders", "bad loans", "loan losses"],
        "tickers": ["JPM", "BAC", "C", "WFC", "GS", "MS", "HSBC", "BCS", "DB", "UBS"],
    },
    {
        "name": "big-tech",
        "description": "Large technology companies such as Apple, Alphabet, Microsoft, Amazon and Meta: products, results, regulation and antitrust.",
        "keywords": ["apple", "alphabet", "google", "microsoft", "amazon", "facebook", "meta platforms", "big tech", "chipmaker", "semiconductor"],
        "tickers": ["AAPL", "GOOG", "GOOGL", "MSFT", "AMZN", "META", "FB", "NVDA", "NFLX", "INTC"],
    },
    {
        "name": "energy",
        "description": "Oil, natural gas and power: crude prices, OPEC output decisions, drilling and energy company results.",
        "keywords": ["oil", "crude", "brent", "opec", "natural gas", "lng", "refinery", "shale", "oil price", "oil prices"],
        "tickers": ["XOM", "CVX", "BP", "SHEL", "RDS.A", "COP", "TOT", "USO"],
    },
    {
        "name": "central-banks",
        "description": "Central banks and interest rates: rate hikes and cuts, inflation, monetary policy statements by the Fed, ECB or Bank of England.",
        "keywords": ["federal reserve", "the fed", "fed", "fomc", "ecb", "bank of england", "bank of japan", "interest rate", "interest rates",
                     "rate hike", "rate cut", "monetary policy", "inflation", "powell", "lagarde"],
    },
    {
        "name": "trade-tariffs",
        "description": "International trade disputes: tariffs, import duties, sanctions, export bans and negotiations between the US, China "
                       "and other countries.",
        "keywords": ["tariff", "tariffs", "trade war", "trade talks", "trade deal", "trade dispute", "import duties", "export controls", "customs duties"],
    },
    {
        "name": "crypto",
        "description": "Cryptocurrencies and digital assets: bitcoin and ether prices, exchanges, stablecoins and their regulation.",
        "keywords": ["bitcoin", "ether", "ethereum", "crypto", "cryptocurrency", "cryptocurrencies", "stablecoin", "blockchain", "coinbase", "binance"],
        "tickers": ["COIN", "BTC", "ETH", "GBTC", "MSTR"],
    },
]
