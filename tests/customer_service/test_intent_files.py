import json
from pathlib import Path

import pytest

from customer_service.intent_files import (
    OUT_OF_SCOPE,
    IntentExamples,
    IntentSplits,
    load_intents,
    read_clinc150,
    read_intents,
    read_oos_texts,
    read_rasa_nlu,
)
from shared.datafiles import RowReport
from shared.errors import DataError

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


# ---- CSV / JSONL ---------------------------------------------------------------------------------


def test_csv_with_text_and_intent(tmp_path):
    path = tmp_path / "intents.csv"
    path.write_text("text,intent\nI lost my card,lost_card\nwhat is the capital of peru,oos\n")
    examples = read_intents(path)
    assert examples.texts == ["I lost my card", "what is the capital of peru"]
    assert examples.intents == ["lost_card", OUT_OF_SCOPE]  # CLINC's "oos" is the one out-of-scope label
    assert examples.labels == ["lost_card"]
    assert examples.oos_texts == ["what is the capital of peru"]
    assert examples.in_scope().texts == ["I lost my card"]


def test_banking77_style_category_column_and_jsonl(tmp_path):
    csv_path = tmp_path / "train.csv"
    csv_path.write_text('text,category\n"open an account, please",open_account\n')
    assert read_intents(csv_path).intents == ["open_account"]
    jsonl = tmp_path / "train.jsonl"
    jsonl.write_text(json.dumps({"text": "freeze my card", "intent": "lost_card"}) + "\n")
    assert load_intents(jsonl).texts == ["freeze my card"]


@pytest.mark.parametrize(
    "content, message",
    [("", "no rows"), ("text,intent\n", "no rows"), ("text,topic\nhi,greet\n", "no label column found"),
     ("text,intent\nhi,\n", "bad.csv:2: empty 'intent'")],
)
def test_bad_intent_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_intents(path)


def test_oos_texts_need_only_a_text_column(tmp_path):
    path = tmp_path / "oos.csv"
    path.write_text("text\nplay some jazz\nhow tall is everest\n")
    assert read_oos_texts(path) == ["play some jazz", "how tall is everest"]
    path.write_text("text\nplay some jazz\n\"  \"\n")
    with pytest.raises(DataError, match="oos.csv:3: empty 'text'"):
        read_oos_texts(path)


# A support team's export: two good rows around an empty intent, a short row and an empty text.
MIXED_CSV = "text,intent\nI lost my card,lost_card\nhello,\njust one field\n\"  \",greet\nopen an account,open_account\n"


def test_bad_csv_rows_are_skipped_with_their_line_and_reason(tmp_path):
    path = tmp_path / "intents.csv"
    path.write_text(MIXED_CSV)
    report = RowReport(str(path))
    examples = read_intents(path, report=report)
    assert examples.texts == ["I lost my card", "open an account"]
    assert report.rows == [(3, "empty 'intent'"), (4, "wrong number of fields (1 field(s), the header has 2)"), (5, "empty 'text'")]


def test_broken_jsonl_lines_are_skipped_and_the_rest_read(tmp_path):
    path = tmp_path / "intents.jsonl"
    path.write_text('{"text": "freeze my card", "intent": "lost_card"}\n{"text": "oops"\n\n["a", "list"]\n'
                    '{"text": "", "intent": "greet"}\n{"text": "hi there", "intent": "greet"}\n')
    report = RowReport(str(path))
    assert load_intents(path, report).intents == ["lost_card", "greet"]
    assert [line for line, _ in report.rows] == [2, 4, 5]  # the blank line 3 is no row, and not counted
    assert report.rows[0][1].startswith("invalid JSON") and report.rows[1][1] == "not a JSON object"


def test_strict_stops_at_the_first_bad_row_and_a_file_of_bad_rows_is_an_error(tmp_path):
    path = tmp_path / "intents.csv"
    path.write_text(MIXED_CSV)
    with pytest.raises(DataError, match=r"intents.csv:3: empty 'intent'"):
        read_intents(path, report=RowReport(str(path), strict=True))
    path.write_text("text,intent\nhello,\n,greet\n")
    with pytest.raises(DataError, match=r"no row could be read \(2 bad; line 2: empty 'intent'; line 3: empty 'text'\)"):
        read_intents(path, report=RowReport(str(path)))


def test_oos_rows_without_text_are_skipped_into_the_report(tmp_path):
    path = tmp_path / "oos.csv"
    path.write_text("text\nplay some jazz\n\"  \"\n")
    report = RowReport(str(path))
    assert read_oos_texts(path, report=report) == ["play some jazz"] and report.rows == [(3, "empty 'text'")]


def test_examples_check_their_lengths():
    with pytest.raises(DataError, match="2 texts but 1 intents"):
        IntentExamples(["a", "b"], ["x"])


# ---- CLINC150 ------------------------------------------------------------------------------------

CLINC = {
    "train": [["freeze my card", "lost_card"], ["open an account", "open_account"]],
    "val": [["my card is gone", "lost_card"]],
    "oos_train": [["how tall is everest", "oos"]],
    "oos_val": [["play some jazz", "oos"]],
}


def test_clinc_layout_appends_out_of_scope_rows_to_each_split(tmp_path):
    path = tmp_path / "data_full_trainval.json"
    path.write_text(json.dumps(CLINC))
    splits = read_clinc150(path)
    assert isinstance(splits, IntentSplits) and splits.test is None
    assert splits.train.texts == ["freeze my card", "open an account", "how tall is everest"]
    assert splits.train.intents == ["lost_card", "open_account", OUT_OF_SCOPE]
    assert splits.validation.oos_texts == ["play some jazz"]
    assert load_intents(path).validation.labels == ["lost_card"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("[1, 2]", "not the CLINC150 layout"),
        ('{"train": []}', "not the CLINC150 layout .*found train"),
        ('{"train": [["a", "x"]], "val": [["b"]]}', r"val\[0\]: not a \[text, intent\] pair"),
        ('{"train": [["a", "x"]], "val": [], "oos_val": [["b", "x"]]}', "oos_val should hold only out-of-scope rows"),
        ('{"train": [["a", "oos"]], "val": []}', "train split holds no in-scope examples"),
        ('{"train": [["a", ""]], "val": []}', r"train\[0\]: empty text or intent"),
        ('{"train": ', "invalid JSON"),
    ],
)
def test_bad_clinc_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "clinc.json"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_clinc150(path)


# ---- Rasa NLU ------------------------------------------------------------------------------------

RASA = """\
version: "3.1"
nlu:
- intent: lost_card
  examples: |
    - I lost my [debit](card_type) card
    - block my card
- synonym: debit
  examples: |
    - debit card
- intent: open_account
  examples:
  - text: |
      open a [savings]{"entity": "account_type"} account
    metadata:
      sentiment: neutral
  - text: sign me up
- regex: account_number
  examples: |
    - \\d{8}
"""


def test_rasa_nlu_both_example_forms_without_entity_markup(tmp_path):
    path = tmp_path / "nlu.yml"
    path.write_text(RASA)
    examples = read_rasa_nlu(path)
    assert examples.texts == ["I lost my debit card", "block my card", "open a savings account", "sign me up"]
    assert examples.intents == ["lost_card", "lost_card", "open_account", "open_account"]
    assert load_intents(path).texts == examples.texts


@pytest.mark.parametrize(
    "content, message",
    [
        ("nlu: [unclosed", r"nlu.yml:1: invalid YAML"),
        ("version: '3.1'\n", "expected a top-level 'nlu:' list"),
        ("nlu:\n- intent: greet\n  examples: |\n    hello there\n", "line 'hello there' does not start with '- '"),
        ("nlu:\n- intent: greet\n", "intent 'greet': no examples"),
        ("nlu:\n- synonym: debit\n  examples: |\n    - debit card\n", "no intent examples found"),
        ("nlu:\n- intent: greet\n  examples:\n  - hello\n", "needs a 'text' string"),
    ],
)
def test_bad_rasa_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "nlu.yml"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_rasa_nlu(path)


def test_a_malformed_clinc_pair_or_rasa_example_is_skipped_by_its_place(tmp_path):
    clinc = tmp_path / "clinc.json"
    clinc.write_text(json.dumps({**CLINC, "train": [*CLINC["train"], ["no intent"]]}))
    report = RowReport(str(clinc))
    assert len(read_clinc150(clinc, report).train) == 3 and report.rows == [("train[2]", "not a [text, intent] pair of strings")]
    rasa = tmp_path / "nlu.yml"
    rasa.write_text("nlu:\n- intent: greet\n  examples: |\n    - hello\n    hi there\n- intent: bye\n")
    report = RowReport(str(rasa))
    assert read_rasa_nlu(rasa, report).texts == ["hello"]
    assert report.summary_lines() == [f"{rasa}: intent 'greet': skipped: example line 'hi there' does not start with '- '",
                                      f"{rasa}: intent 'bye': skipped: no examples (expected 'examples: |' and '- text' lines)"]


# ---- the real data sets, where present ------------------------------------------------------------


@pytest.mark.skipif(not (SHARED_DATA / "clinc150" / "data_full_trainval.json").is_file(), reason="CLINC150 not in ../shared/data")
def test_real_clinc150_file():
    splits = read_clinc150(SHARED_DATA / "clinc150" / "data_full_trainval.json")
    assert len(splits.train.in_scope()) == 15000 and len(splits.train.oos_texts) == 100
    assert len(splits.validation.in_scope()) == 3000 and len(splits.validation.oos_texts) == 100
    assert len(splits.train.labels) == 150 and splits.validation.labels == splits.train.labels


@pytest.mark.skipif(not (SHARED_DATA / "banking77" / "validation.csv").is_file(), reason="BANKING77 not in ../shared/data")
def test_real_banking77_file_as_it_is():
    examples = read_intents(SHARED_DATA / "banking77" / "validation.csv")
    assert len(examples) > 1000 and len(examples.labels) == 77 and not examples.oos_texts
