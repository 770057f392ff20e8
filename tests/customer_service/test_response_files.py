import random

import pytest

from customer_service.response_files import read_responses
from shared.datafiles import RowReport
from shared.errors import DataError


def test_yaml_with_one_or_several_templates_per_intent(tmp_path):
    path = tmp_path / "responses.yml"
    path.write_text('lost_card:\n  - "We have blocked your card."\n  - "Your card is frozen now."\nopen_account: "Tap Join to open an account."\n')
    responses = read_responses(path)
    assert responses.templates == {
        "lost_card": ["We have blocked your card.", "Your card is frozen now."],
        "open_account": ["Tap Join to open an account."],
    }
    assert responses.answer("open_account") == "Tap Join to open an account."
    assert {responses.answer("lost_card", random.Random(seed)) for seed in range(20)} == set(responses.templates["lost_card"])
    assert "lost_card" in responses and responses.missing(["lost_card", "interest_rate"]) == ["interest_rate"]


def test_json_and_rasa_style_responses(tmp_path):
    path = tmp_path / "responses.json"
    path.write_text('{"lost_card": ["We have blocked your card."]}')
    assert read_responses(path).templates == {"lost_card": ["We have blocked your card."]}
    rasa = tmp_path / "domain.yml"
    rasa.write_text('responses:\n  utter_lost_card:\n  - text: "Blocked."\n  - text: "Frozen."\n')
    assert read_responses(rasa).templates == {"utter_lost_card": ["Blocked.", "Frozen."]}


def test_an_unknown_intent_is_a_clear_error(tmp_path):
    path = tmp_path / "responses.yml"
    path.write_text("lost_card: Blocked.\n")
    with pytest.raises(DataError, match="no response for intent 'refund'"):
        read_responses(path).answer("refund")


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("r.yml", "lost_card: [unclosed", "invalid YAML"),
        ("r.json", '{"lost_card": ', "invalid JSON"),
        ("r.yml", "", "expected a mapping of intent"),
        ("r.yml", "- a list\n", "expected a mapping of intent"),
        ("r.yml", "lost_card: []\n", "empty list of templates"),
        ("r.yml", "lost_card: 42\n", "each template must be a non-empty string"),
        ("r.yml", "lost_card: '  '\n", "each template must be a non-empty string"),
        ("r.txt", "lost_card: Blocked.\n", "unsupported file type .txt"),
    ],
)
def test_bad_response_files_name_the_problem(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_responses(path)


def test_bad_templates_are_skipped_by_intent_and_the_good_ones_kept(tmp_path):
    path = tmp_path / "r.yml"
    path.write_text("lost_card: Blocked.\ntop_up: [Tap Add money., 42]\nrefund: []\ngreet: '  '\n")
    report = RowReport(str(path))
    responses = read_responses(path, report)
    assert responses.templates == {"lost_card": ["Blocked."], "top_up": ["Tap Add money."]}
    assert report.rows == [("intent 'top_up'", "each template must be a non-empty string, got 42"),
                           ("intent 'refund'", "empty list of templates"),
                           ("intent 'greet'", "each template must be a non-empty string, got '  '")]
    assert responses.missing(["lost_card", "greet"]) == ["greet"]  # served as a handoff, as any intent without an answer
    with pytest.raises(DataError, match="r.yml: intent 'top_up': each template must be a non-empty string"):
        read_responses(path, RowReport(str(path), strict=True))
    path.write_text("refund: []\n")
    with pytest.raises(DataError, match=r"no row could be read \(1 bad; intent 'refund': empty list of templates\)"):
        read_responses(path, RowReport(str(path)))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_responses(tmp_path / "absent.yml")
