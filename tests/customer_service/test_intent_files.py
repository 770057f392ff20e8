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
     ("text,intent\nhi,\n", "row 2 has an empty 'intent'")],
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
    with pytest.raises(DataError, match="row 3 has an empty text"):
        read_oos_texts(path)


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
        ('{"train": [["a", "x"]], "val": [["b"]]}', r"val\[0\] is not a \[text, intent\] pair"),
        ('{"train": [["a", "x"]], "val": [], "oos_val": [["b", "x"]]}', "oos_val should hold only out-of-scope rows"),
        ('{"train": [["a", "oos"]], "val": []}', "train split holds no in-scope examples"),
        ('{"train": [["a", ""]], "val": []}', r"train\[0\] has an empty text or intent"),
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
        ("nlu:\n- intent: greet\n", "intent 'greet' has no examples"),
        ("nlu:\n- synonym: debit\n  examples: |\n    - debit card\n", "no intent examples found"),
        ("nlu:\n- intent: greet\n  examples:\n  - hello\n", "needs a 'text' string"),
    ],
)
def test_bad_rasa_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "nlu.yml"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_rasa_nlu(path)


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
