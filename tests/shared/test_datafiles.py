import json

import pytest

from shared.datafiles import read_labelled
from shared.errors import DataError


def test_banking77_style_csv_is_read_as_it_is(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text('text,category\n"I am still waiting on my card?",card_arrival\n"line one\nline two",Refund_not_showing_up\n')
    assert read_labelled(path) == (["I am still waiting on my card?", "line one\nline two"], ["card_arrival", "Refund_not_showing_up"])


def test_jsonl_with_named_columns(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps({"sentence": s, "polarity": p}) for s, p in [("up 5%", "positive"), ("flat", "neutral")]) + "\n")
    assert read_labelled(path, label_col="polarity") == (["up 5%", "flat"], ["positive", "neutral"])


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "no rows"),
        ("text,category\n", "no rows"),
        ("words,category\nhello,greet\n", "no text column"),
        ("text,category\n,greet\n", "row 2 has an empty 'text'"),
    ],
)
def test_bad_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_labelled(path)


def test_a_missing_named_column_lists_the_columns(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("text,category\nhi,greet\n")
    with pytest.raises(DataError, match="no column 'intent' \\(columns: text, category\\)"):
        read_labelled(path, label_col="intent")


def test_unsupported_and_missing_files(tmp_path):
    (tmp_path / "data.xlsx").write_bytes(b"PK")
    with pytest.raises(DataError, match="unsupported file type .xlsx"):
        read_labelled(tmp_path / "data.xlsx")
    with pytest.raises(DataError, match="no such file"):
        read_labelled(tmp_path / "absent.csv")


def test_texts_alone_can_be_read_for_unlabelled_checks(tmp_path):
    from shared.datafiles import read_texts

    path = tmp_path / "queries.csv"
    path.write_text("id,query\n1,where is my card\n2,refund\n")
    assert read_texts(path) == ["where is my card", "refund"]
    with pytest.raises(DataError, match="no column 'text'"):
        read_texts(path, "text")
