"""SentimentModel: score sign and range, chunking and its aggregation rule, save/load, ONNX."""

import numpy as np
import pytest

from finance_monitor.scoring.sentiment import SentimentModel
from finance_monitor.scoring.sentiment_data import LABELS, read_sentiment_file
from shared.errors import ConfigError, DataError, IntegrityError
from shared.finetune_config import FineTuneConfig
from tests.finance_monitor.test_sentiment_data import write_phrasebank, write_tweets

GOOD = "Profits soared and the company raised its outlook again"
BAD = "Losses deepened and the company slashed its forecast"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sentiment-data")
    return write_phrasebank(tmp / "pb.csv"), write_tweets(tmp / "tw.csv")


@pytest.fixture(scope="module")
def model(files):
    # Validation = the training files: these tests check plumbing, not generalisation.
    return SentimentModel.train(list(files), list(files), config=FineTuneConfig(mode="fast"), progress=False)


def test_score_is_p_positive_minus_p_negative_and_its_sign_follows_the_news(model):
    good, bad = model.score_headlines([GOOD, BAD])
    for s in (good, bad):
        assert -1 <= s.score <= 1
        assert s.score == pytest.approx(s.probabilities["positive"] - s.probabilities["negative"])
        assert sum(s.probabilities.values()) == pytest.approx(1)
        assert s.label == max(s.probabilities, key=s.probabilities.get)
    assert good.score > 0 > bad.score
    assert (good.label, bad.label) == ("positive", "negative")


def test_probability_columns_follow_labels_whatever_the_classifier_order(model):
    probs = model.probabilities([GOOD])
    raw = model.classifier.predict_proba([GOOD])[0]
    for j, label in enumerate(LABELS):
        assert probs[0, j] == pytest.approx(raw[model.classifier.labels_.index(label)])
    assert model.probabilities([]).shape == (0, 3)


def test_batched_and_single_scores_agree(model):
    texts = [GOOD, BAD, "The meeting is on Monday", "x" * 3000, ""]
    batch = model.score_headlines(texts)
    for text, together in zip(texts, batch):
        assert model.score_headlines([text])[0].score == pytest.approx(together.score, abs=1e-5)


def test_chunks_are_whole_sentences_within_the_token_budget(model):
    sentence = "Revenue rose in every region this quarter."
    body = " ".join([sentence] * 40)
    chunks = model.chunk(body)
    assert len(chunks) > 1
    tokenizer = model.classifier.tokenizer_
    for text, tokens in chunks:
        assert tokens <= model.chunk_tokens
        assert tokens == len(tokenizer(text, add_special_tokens=False)["input_ids"])
        assert text.startswith("Revenue") and text.endswith(".")
    assert " ".join(text for text, _ in chunks) == body


def test_a_sentence_longer_than_the_budget_is_cut_at_token_boundaries_without_losing_text(model):
    words = " ".join(f"Word{i}" for i in range(400))
    chunks = model.chunk(words)
    assert len(chunks) > 1 and all(tokens <= model.chunk_tokens for _, tokens in chunks)
    assert " ".join(text for text, _ in chunks).split() == words.split()
    assert model.chunk("") == [] and model.chunk("   \n ") == []


class _Rigged:
    """A classifier whose probabilities depend on one word, to check the aggregation arithmetic."""

    labels = ["negative", "neutral", "positive"]
    max_length = 128

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.seen = []

    def predict_proba(self, texts):
        self.seen.append(list(texts))

        def row(text):
            if "gain" in text:
                return [0.1, 0.1, 0.8]
            if "loss" in text:
                return [0.7, 0.2, 0.1]
            return [0.2, 0.6, 0.2]

        return np.array([row(t) for t in texts])


def test_article_probabilities_weight_body_chunks_by_length_and_the_headline_separately(model):
    rigged = _Rigged(model.classifier.tokenizer_)
    long_loss = "A loss was reported by the unit after several very difficult months of trading overall."
    short_gain = "A gain."
    # A budget the long sentence just fits, so the two sentences cannot share a chunk.
    budget = len(rigged.tokenizer(long_loss, add_special_tokens=False)["input_ids"])
    m = SentimentModel(rigged, chunk_tokens=budget, headline_weight=0.4)
    chunks = m.chunk(long_loss + " " + short_gain)
    assert [t for t, _ in chunks] == [long_loss, short_gain]
    (w_loss, w_gain) = [n for _, n in chunks]
    [article] = m.score_articles(["Calm headline"], [long_loss + " " + short_gain])
    body = (w_loss * np.array([0.7, 0.2, 0.1]) + w_gain * np.array([0.1, 0.1, 0.8])) / (w_loss + w_gain)
    expected = 0.4 * np.array([0.2, 0.6, 0.2]) + 0.6 * body
    assert [article.probabilities[k] for k in LABELS] == pytest.approx(expected)
    assert article.score == pytest.approx(expected[2] - expected[0])
    assert article.chunks == 3
    # Every chunk of every article goes through the model in one batched call.
    rigged.seen.clear()
    m.score_articles(["gain", "loss", None], ["loss. loss.", None, "gain"])
    assert len(rigged.seen) == 1


def test_headline_only_body_only_and_empty_articles(model):
    m = SentimentModel(_Rigged(model.classifier.tokenizer_))
    head, body, empty = m.score_articles(["a gain", None, ""], [None, "a loss", "  "])
    assert head.probabilities["positive"] == pytest.approx(0.8) and head.chunks == 1
    assert body.probabilities["negative"] == pytest.approx(0.7) and body.chunks == 1
    assert (empty.label, empty.score, empty.chunks) == ("neutral", 0.0, 0)
    with pytest.raises(DataError, match="2 headlines but 1 bodies"):
        m.score_articles(["a", "b"], ["c"])


def test_settings_and_labels_are_checked(model):
    with pytest.raises(ConfigError, match="chunk_tokens"):
        SentimentModel(model.classifier, chunk_tokens=500)
    with pytest.raises(ConfigError, match="headline_weight"):
        SentimentModel(model.classifier, headline_weight=1.5)
    other = _Rigged(model.classifier.tokenizer_)
    other.labels = ["bearish", "bullish"]
    with pytest.raises(DataError, match="not a sentiment model"):
        SentimentModel(other)


def test_training_needs_all_three_labels(tmp_path):
    only_two = write_tweets(tmp_path / "tw.csv", [("up", 1), ("down", 0), ("up more", 1), ("down more", 0)])
    with pytest.raises(DataError, match="no neutral examples"):
        SentimentModel.train([only_two], [], config=FineTuneConfig(mode="fast"), progress=False)


def test_save_load_round_trip_gives_the_same_scores(model, tmp_path):
    # The ONNX export and its loading are exercised by test_cli.py (train writes DIR-onnx).
    texts = [GOOD, BAD, "The annual meeting will be held in May"]
    model.save(tmp_path / "m")
    loaded = SentimentModel.load(tmp_path / "m")
    assert np.allclose(loaded.probabilities(texts), model.probabilities(texts), atol=1e-5)
    assert [s.label for s in loaded.score_headlines(texts)] == [s.label for s in model.score_headlines(texts)]


def test_a_tampered_model_is_refused(model, tmp_path):
    path = model.save(tmp_path / "m")
    head = path / "head.safetensors"
    data = bytearray(head.read_bytes())
    data[-1] ^= 1
    head.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        SentimentModel.load(path)


def test_evaluate_reports_agreement_100_only_where_the_file_has_agreement(model, files):
    pb, tw = files
    report = model.evaluate(read_sentiment_file(pb))
    unanimous = sum(1 for row in read_sentiment_file(pb).agreement if row == 100)
    assert report["n_agree_100"] == unanimous
    assert 0 <= report["accuracy_agree_100"] <= 1 and 0 <= report["accuracy"] <= 1 and 0 <= report["macro_f1"] <= 1
    assert "accuracy_agree_100" not in model.evaluate(read_sentiment_file(tw))
