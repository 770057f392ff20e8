import json

import pytest

from customer_service.knowledge_files import Passage, heading_anchor, read_faq, read_knowledge, read_markdown
from shared.datafiles import RowReport
from shared.errors import DataError

DOC = """\
Intro text before any heading.

# Cards

## Lost or stolen cards

Freeze the card in the app at once.

Then order a replacement under Cards.

## Delivery

Cards arrive within five working days.

```
# not a heading, inside code
```

## Delivery

A second section with the same title.
"""


def test_faq_csv_with_and_without_urls(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text("question,answer,url\nHow do I freeze my card?,Tap Freeze in the app.,https://bank.example/help/freeze\n"
                    "What are your opening hours?,We are open around the clock.,\n")
    passages = read_faq(path)
    assert passages[0] == Passage("faq-1", "How do I freeze my card?", "Tap Freeze in the app.", "https://bank.example/help/freeze")
    assert passages[1].source == "faq.csv:3" and passages[1].id == "faq-2"
    assert passages[0].search_text == "How do I freeze my card?\nTap Freeze in the app."


def test_faq_jsonl_with_own_ids(tmp_path):
    path = tmp_path / "kb.jsonl"
    path.write_text(json.dumps({"id": "hours", "question": "When are you open?", "answer": "Always."}) + "\n")
    assert read_faq(path)[0].id == "hours"


@pytest.mark.parametrize(
    "content, message",
    [
        ("question,reply\nq,a\n", "no column 'answer'"),
        ("question,answer\nq,\n", "faq.csv:2: empty answer"),
        ("question,answer\n", "no rows"),
        ("id,question,answer\nx,q1,a1\nx,q2,a2\n", "passage id 'x' occurs twice"),
    ],
)
def test_bad_faq_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "faq.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_faq(path)


def test_bad_faq_rows_are_skipped_and_the_passages_keep_their_ids(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text("question,answer\nWhen are you open?,Always.\nHow do I freeze my card?,\n"
                    "Where is my card?,Cards arrive in 5 days.,extra\nCan I change my PIN?,At any cash machine.\n")
    report = RowReport(str(path))
    passages = read_faq(path, report)
    assert [p.id for p in passages] == ["faq-1", "faq-4"]  # the fourth row keeps its name although two before it failed
    assert report.summary_lines() == [f"{path}:3: skipped: empty answer",
                                      f"{path}:4: skipped: wrong number of fields (3 field(s), the header has 2)"]
    with pytest.raises(DataError, match="faq.csv:3: empty answer"):
        read_faq(path, RowReport(str(path), strict=True))
    path.write_text("question,answer\nq,\n")
    with pytest.raises(DataError, match=r"no row could be read \(1 bad; line 2: empty answer\)"):
        read_faq(path, RowReport(str(path)))


def test_a_knowledge_base_collects_one_report_per_faq_file(tmp_path):
    (tmp_path / "faq.jsonl").write_text('{"question": "When are you open?", "answer": "Always."}\nnot json\n')
    (tmp_path / "guide.md").write_text("# Fees\nNo monthly fee.\n")
    reports = []
    passages = read_knowledge([tmp_path], reports=reports)
    assert len(passages) == 2 and [(r.path, r.rows) for r in reports] == [(str(tmp_path / "faq.jsonl"), [(2, "invalid JSON (Expecting value)")])]


def test_markdown_is_split_by_heading_with_anchors_as_sources(tmp_path):
    path = tmp_path / "cards.md"
    path.write_text(DOC)
    passages = read_markdown(path, root=tmp_path)
    assert [p.source for p in passages] == ["cards.md", "cards.md#lost-or-stolen-cards", "cards.md#delivery", "cards.md#delivery-1"]
    assert passages[0].title == "cards" and passages[0].text == "Intro text before any heading."
    assert passages[1].title == "Cards > Lost or stolen cards"
    assert passages[1].text == "Freeze the card in the app at once.\n\nThen order a replacement under Cards."
    assert "# not a heading, inside code" in passages[2].text  # fenced code is kept, not taken for a heading
    assert len({p.id for p in passages}) == len(passages)


def test_long_sections_are_cut_at_paragraphs(tmp_path):
    path = tmp_path / "long.md"
    paragraphs = [f"Paragraph {i} " + "word " * 40 for i in range(6)]
    path.write_text("# Fees\n\n" + "\n\n".join(paragraphs) + "\n")
    passages = read_markdown(path, max_chars=500)
    assert len(passages) > 1
    assert all(len(p.text) <= 500 for p in passages)
    assert {p.source for p in passages} == {f"{path.as_posix()}#fees"}
    assert passages[1].id == f"{path.as_posix()}#fees:2"
    assert "\n\n".join(p.text for p in passages) == "\n\n".join(x.strip() for x in paragraphs)


def test_heading_anchors_follow_github():
    seen = {}
    assert heading_anchor("What's new in 2.0?", seen) == "whats-new-in-20"
    assert heading_anchor("What's new in 2.0?", seen) == "whats-new-in-20-1"
    assert heading_anchor("Cartes  bancaires", seen) == "cartes--bancaires"


def test_empty_markdown_and_unknown_files_are_errors(tmp_path):
    (tmp_path / "empty.md").write_text("# Only a heading\n\n")
    with pytest.raises(DataError, match="no text to use"):
        read_markdown(tmp_path / "empty.md")
    (tmp_path / "notes.docx").write_bytes(b"PK")
    with pytest.raises(DataError, match="unsupported knowledge-base file type .docx"):
        read_knowledge(tmp_path / "notes.docx")
    with pytest.raises(DataError, match="no such file"):
        read_markdown(tmp_path / "absent.md")


def test_a_folder_mixes_faq_files_and_documents(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "cards.md").write_text(DOC)
    (tmp_path / "faq.csv").write_text("question,answer\nWhen are you open?,Always.\n")
    passages = read_knowledge(tmp_path)
    assert [p.source for p in passages][:2] == ["docs/cards.md", "docs/cards.md#lost-or-stolen-cards"]
    assert passages[-1].title == "When are you open?"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .csv, .jsonl or .md files"):
        read_knowledge(tmp_path / "empty")


def test_visitor_questions_name_their_passage_or_none(tmp_path):
    from customer_service.knowledge_files import read_questions

    path = tmp_path / "questions.csv"
    path.write_text("text,passage_id\nwhen are you open,faq-1\nwhat is the weather,\n")
    assert read_questions(path) == [("when are you open", "faq-1"), ("what is the weather", None)]
    path.write_text("question,answer\nx,y\n")
    with pytest.raises(DataError, match="text,passage_id"):
        read_questions(path)
