"""Reading PhraseBank-style and Twitter-style sentiment files, recognised by their columns.

The sample sentences here (written for these tests) are also the tiny training data of
test_sentiment.py and test_cli.py.
"""

import csv
import json
from pathlib import Path

import pytest

from finance_monitor.scoring.sentiment_data import LABELS, PHRASEBANK, TWITTER, read_sentiment_file, read_sentiment_files
from shared.datafiles import RowReport
from shared.errors import DataError
from tests.conftest import SHARED_DATA

# PhraseBank-style: (sentence, label, agreement).
PHRASES = [
    ("Net profit rose sharply and the company raised its full-year outlook .", "positive", 100),
    ("Quarterly sales grew strongly thanks to record demand .", "positive", 100),
    ("Operating profit increased and margins improved .", "positive", 75),
    ("The group won a large new contract and expects higher earnings .", "positive", 100),
    ("Revenue climbed to a record and the dividend was increased .", "positive", 66),
    ("Earnings beat expectations as orders surged .", "positive", 100),
    ("The company swung to a heavy loss and cut its forecast .", "negative", 100),
    ("Sales fell sharply and hundreds of jobs will be cut .", "negative", 100),
    ("Operating profit dropped and the outlook was lowered .", "negative", 75),
    ("The firm warned of weaker demand and its shares plunged .", "negative", 100),
    ("Losses widened as costs rose and orders collapsed .", "negative", 50),
    ("The bank reported a steep decline in earnings and wrote down bad loans .", "negative", 100),
    ("The company is headquartered in Espoo , Finland .", "neutral", 100),
    ("The annual general meeting will be held on 5 April .", "neutral", 100),
    ("The board consists of six members .", "neutral", 66),
    ("The firm makes packaging materials for the food industry .", "neutral", 100),
    ("The report will be published in English and Finnish .", "neutral", 100),
    ("The chief executive is a former engineer .", "neutral", 75),
]

# Twitter-style: (text, code) with 0 = Bearish, 1 = Bullish, 2 = Neutral.
TWEETS = [
    ("$ACME soars after blowout earnings and raised guidance", 1),
    ("Stocks rally to record highs as profits jump", 1),
    ("$BOLT upgraded to buy, shares climb", 1),
    ("Chipmaker surges on strong demand outlook", 1),
    ("$ACME plunges after profit warning", 0),
    ("Shares tumble as losses mount and guidance is cut", 0),
    ("$BOLT downgraded to sell on weak sales", 0),
    ("Retailer slumps after dismal holiday quarter", 0),
    ("$ACME to present at investor conference on Tuesday", 2),
    ("Company schedules earnings call for next week", 2),
    ("$BOLT announces new board member", 2),
    ("Fund files quarterly holdings report", 2),
]


def write_phrasebank(path: Path, rows=PHRASES) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["sentence", "label", "agreement"])
        writer.writerows(rows)
    return path


def write_tweets(path: Path, rows=TWEETS) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def test_phrasebank_style_keeps_labels_and_agreement(tmp_path):
    rows = read_sentiment_file(write_phrasebank(tmp_path / "pb.csv"))
    assert rows.formats == [PHRASEBANK]
    assert rows.texts == [t for t, _, _ in PHRASES]
    assert rows.labels == [label for _, label, _ in PHRASES]
    assert rows.agreement == [a for _, _, a in PHRASES]
    assert rows.has_agreement


def test_twitter_codes_map_bearish_negative_bullish_positive_neutral_neutral(tmp_path):
    path = write_tweets(tmp_path / "tw.csv", [("down", 0), ("up", 1), ("flat", 2)])
    rows = read_sentiment_file(path)
    assert rows.formats == [TWITTER]
    assert rows.labels == ["negative", "positive", "neutral"]
    assert rows.agreement == [None, None, None]
    assert not rows.has_agreement


def test_jsonl_with_numeric_codes_is_read_like_csv(tmp_path):
    path = tmp_path / "tw.jsonl"
    path.write_text("\n".join(json.dumps({"text": t, "label": code}) for t, code in [("a", 0), ("b", 1), ("c", 2)]) + "\n")
    assert read_sentiment_file(path).labels == ["negative", "positive", "neutral"]


def test_several_files_of_both_formats_make_one_set(tmp_path):
    rows = read_sentiment_files([write_phrasebank(tmp_path / "pb.csv"), write_tweets(tmp_path / "tw.csv")])
    assert len(rows) == len(PHRASES) + len(TWEETS)
    assert set(rows.labels) == set(LABELS)
    assert rows.formats == [PHRASEBANK, TWITTER]
    assert rows.agreement[len(PHRASES):] == [None] * len(TWEETS)


@pytest.mark.parametrize(
    "content, message",
    [
        ("headline,score\nup,1\n", "not a sentiment file"),
        ("text,sentence,label\na,b,1\n", "not a sentiment file"),
        ("text,label\nshares up,bullish\n", "row 2: label 'bullish' is not 0 (Bearish)"),
        ("text,label\nshares up,3\n", "label '3'"),
        ("sentence,label,agreement\nshares up,good,100\n", "row 2: label 'good' is not one of negative, neutral, positive"),
        ("sentence,label,agreement\nshares up,positive,lots\n", "agreement 'lots'"),
        ("sentence,label,agreement\nshares up,positive,150\n", "agreement '150'"),
        ("text,label\n ,1\n", "row 2 has an empty 'text'"),
        ("text,label\n", "no rows"),
    ],
)
def test_bad_files_are_one_line_data_errors(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError) as exc:
        read_sentiment_file(path)
    assert message in str(exc.value)
    assert str(path) in str(exc.value)
    assert "\n" not in str(exc.value)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_sentiment_files([tmp_path / "absent.csv"])


@pytest.mark.parametrize("folder", ["financial_phrasebank", "twitter_financial_news_sentiment"])
def test_the_shared_data_files_are_read_as_they_are(folder):
    directory = SHARED_DATA / folder
    if not (directory / "validation.csv").is_file():
        pytest.skip(f"{directory} is absent")
    rows = read_sentiment_file(directory / "validation.csv")
    assert set(rows.labels) == set(LABELS)
    # PhraseBank carries its agreement levels; the unanimous rows are what the issue measures.
    assert rows.has_agreement == (folder == "financial_phrasebank")
    if rows.has_agreement:
        assert set(rows.agreement) <= {50, 66, 75, 100} and 100 in rows.agreement


def test_with_a_report_rows_with_an_unknown_label_are_skipped_and_counted(tmp_path):
    path = tmp_path / "tw.csv"
    path.write_text("text,label\nshares up,1\nshares sideways,bullish\nshares down,0\n")
    report = RowReport(str(path))
    rows = read_sentiment_file(path, report)
    assert rows.labels == ["positive", "negative"] and len(rows.agreement) == 2
    assert report.count == 1 and report.rows == [(3, "label 'bullish' is not 0 (Bearish), 1 (Bullish) or 2 (Neutral)")]
    with pytest.raises(DataError, match=r"tw.csv:3: label 'bullish'"):
        read_sentiment_file(path, RowReport(str(path), strict=True))


def test_a_file_of_only_unknown_labels_is_an_error_even_when_skipping(tmp_path):
    path = tmp_path / "pb.csv"
    path.write_text("sentence,label\nshares up,good\n")
    reports: list = []
    with pytest.raises(DataError, match="no row could be read"):
        read_sentiment_files([path], reports)
