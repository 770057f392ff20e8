"""Topic assignment: config checks, ticker, keyword and embedding rules, the general topic."""

import numpy as np
import pytest

from finance_monitor.scoring.topics import (
    DEFAULT_TOPICS,
    GENERAL_TOPIC,
    Assignment,
    Topic,
    TopicAssigner,
    cashtags,
    topics_from_config,
)
from shared.errors import ConfigError

TOPICS = [
    {"name": "banks", "description": "banks and lenders", "keywords": ["bank", "lender"], "tickers": ["JPM", "$gs"]},
    {"name": "energy", "description": "oil and gas", "keywords": ["crude oil", "opec"]},
    {"name": "ratings", "description": "credit ratings"},
]


class _AxisEmbedder:
    """Each text becomes a fixed unit vector chosen by a word in it, so similarities are known exactly."""

    AXES = {"lenders": [1.0, 0.0, 0.0], "oil": [0.0, 1.0, 0.0], "ratings": [0.0, 0.0, 1.0]}

    def __init__(self):
        self.calls = []

    def encode(self, texts):
        self.calls.append(list(texts))
        out = []
        for text in texts:
            vector = next((v for word, v in self.AXES.items() if word in text), None)
            if vector is None:  # between "ratings" and nothing else: cosine 0.6 with ratings
                vector = [0.0, 0.8, 0.6] if "downgrade" in text else [0.0, 0.0, 0.0]
            out.append(vector)
        return np.array(out, dtype=np.float32)


def assigner(threshold=0.5, embedder=None):
    return TopicAssigner(topics_from_config(TOPICS), embedder or _AxisEmbedder(), threshold=threshold)


def by_topic(assignments):
    return {a.topic: (a.method, a.score) for a in assignments}


def test_every_article_belongs_to_the_general_topic_first():
    result = assigner().assign("Bakery opens a second shop")
    assert result == [Assignment(GENERAL_TOPIC, "general", 1.0)]


def test_ticker_match_uses_the_article_tickers_and_cashtags():
    a = assigner()
    assert by_topic(a.assign("Quarterly results", tickers=["jpm"]))["banks"] == ("ticker", 1.0)
    assert by_topic(a.assign("$GS beats estimates"))["banks"] == ("ticker", 1.0)
    assert "banks" not in by_topic(a.assign("$GSX beats estimates, costs 5$"))
    assert cashtags("Buy $aapl and $BRK.B, not US$5") == {"AAPL", "BRK.B"}


@pytest.mark.parametrize(
    "text, topics",
    [
        ("Bank shares fall", {"banks"}),
        ("The BANK of the river", {"banks"}),
        ("Banknotes printed", set()),  # whole words only
        ("An embankment collapses", set()),
        ("Crude oil slides; OPEC meets", {"energy"}),
        ("Crude palm oil", set()),  # a phrase matches as a whole
        ("lender-of-last-resort", {"banks"}),
    ],
)
def test_keywords_match_whole_words_in_any_case(text, topics):
    found = {t for t, (method, _) in by_topic(assigner(threshold=None).assign(text)).items() if method == "keyword"}
    assert found == topics


def test_embedding_similarity_assigns_above_the_threshold_with_its_score():
    a = assigner(threshold=0.5)
    assert by_topic(a.assign("a story about ratings"))["ratings"] == ("embedding", 1.0)
    assert by_topic(a.assign("an agency downgrade"))["ratings"] == ("embedding", 0.6)
    assert "energy" in by_topic(a.assign("an agency downgrade"))  # 0.8 with "oil and gas": several topics at once
    assert "ratings" not in by_topic(assigner(threshold=0.7).assign("an agency downgrade"))


def test_rules_come_before_similarity_and_each_topic_appears_once():
    result = assigner(threshold=0.0).assign("$JPM bank lenders")
    assert [a.topic for a in result].count("banks") == 1
    assert by_topic(result)["banks"] == ("ticker", 1.0)


def test_description_vectors_are_computed_once_and_texts_in_one_batch():
    embedder = _AxisEmbedder()
    a = assigner(embedder=embedder)
    a.assign_many(["one", "two", "three"])
    a.assign_many(["four"])
    descriptions = [call for call in embedder.calls if call == ["banks and lenders", "oil and gas", "credit ratings"]]
    assert len(descriptions) == 1
    assert ["one", "two", "three"] in embedder.calls


def test_threshold_none_loads_no_model_and_uses_rules_only():
    a = TopicAssigner(topics_from_config(TOPICS), threshold=None)
    assert a.embedder is None
    assert by_topic(a.assign("OPEC meets"))["energy"] == ("keyword", 1.0)


@pytest.mark.parametrize(
    "entries, key",
    [
        ({"name": "x"}, "finance_monitor.topics: must be a list"),
        (["banks"], "finance_monitor.topics[0]: must be a table"),
        ([{"name": "a b", "keywords": ["x"]}], "finance_monitor.topics[0].name"),
        ([{"keywords": ["x"]}], "finance_monitor.topics[0].name"),
        ([{"name": "a", "keywords": ["x"]}, {"name": "a", "keywords": ["y"]}],
         "finance_monitor.topics[1].name: 'a' is already the name of finance_monitor.topics[0]"),
        ([{"name": GENERAL_TOPIC, "keywords": ["x"]}], "finance_monitor.topics[0].name"),
        ([{"name": "a", "keywords": "oil"}], "finance_monitor.topics[0].keywords"),
        ([{"name": "a", "keywords": ["oil", ""]}], "finance_monitor.topics[0].keywords"),
        ([{"name": "a", "tickers": [1]}], "finance_monitor.topics[0].tickers"),
        ([{"name": "a", "description": 3}], "finance_monitor.topics[0].description"),
        ([{"name": "a", "keyword": ["oil"]}], "finance_monitor.topics[0].keyword: unknown key"),
        ([{"name": "a"}], "finance_monitor.topics[0]: topic 'a' needs"),
    ],
)
def test_bad_topic_config_names_the_key(entries, key):
    with pytest.raises(ConfigError) as exc:
        topics_from_config(entries)
    assert str(exc.value).startswith(key)


def test_threshold_outside_cosine_range_is_refused():
    with pytest.raises(ConfigError, match="threshold"):
        TopicAssigner(topics_from_config(TOPICS), _AxisEmbedder(), threshold=2)


def test_config_normalises_tickers_and_the_defaults_are_valid():
    assert topics_from_config(TOPICS)[0] == Topic("banks", "banks and lenders", ("bank", "lender"), ("JPM", "GS"))
    defaults = topics_from_config(DEFAULT_TOPICS)
    assert len({t.name for t in defaults}) == len(defaults) >= 6
    assert all(t.description and t.keywords for t in defaults)


def test_default_topics_with_the_real_embedder():
    a = TopicAssigner(threshold=0.3)
    # No default keyword or ticker occurs here, so only the description similarity can place it.
    result = by_topic(a.assign("Drillers idle rigs as fuel prices sink"))
    assert set(result) == {GENERAL_TOPIC, "energy"}
    assert result["energy"][0] == "embedding" and result["energy"][1] >= 0.3
    quiet = by_topic(a.assign("Local bakery opens a second shop"))
    assert set(quiet) == {GENERAL_TOPIC}
