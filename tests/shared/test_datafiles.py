import json

import pytest

from shared.datafiles import ROWS_KEPT, BadRow, FileReports, RowReport, print_skipped_rows, read_labelled
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
        ("text,category\n,greet\n", "bad.csv:2: empty 'text'"),
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


# ---- RowReport: bad rows counted with line and reason, strict stops, nothing parsed is an error ----


def test_skipped_rows_are_counted_kept_up_to_a_cap_and_summarised():
    report = RowReport("f.csv", ignored_columns=["desk"])
    for line in range(2, 2 + ROWS_KEPT + 5):
        report.skip(line, BadRow("empty headline") if line % 2 else "bad published_at")
    assert report.count == ROWS_KEPT + 5 and len(report.rows) == ROWS_KEPT
    assert report.rows[:2] == [(2, "bad published_at"), (3, "empty headline")]
    lines = report.summary_lines()
    assert lines[0] == "f.csv: ignored column(s) desk" and lines[1] == "f.csv:2: skipped: bad published_at"
    assert lines[-1] == "f.csv: ... and 5 more bad row(s)" and len(lines) == ROWS_KEPT + 2
    assert report.as_dict()["count"] == ROWS_KEPT + 5 and report.as_dict()["rows"][0] == {"line": 2, "reason": "bad published_at"}


def test_a_bad_row_detail_is_part_of_its_reason():
    report = RowReport("f.csv")
    report.skip(7, BadRow("bad published_at", "'soon'"))
    assert report.rows == [(7, "bad published_at ('soon')")]


def test_strict_raises_at_the_first_bad_row():
    with pytest.raises(DataError, match=r"^f.csv:4: empty headline"):
        RowReport("f.csv", strict=True).skip(4, "empty headline")


def test_finish_is_an_error_only_when_nothing_parsed():
    report = RowReport("f.csv")
    report.skip(2, "empty headline")
    report.finish(parsed=1)  # one good row is a (small) file
    with pytest.raises(DataError, match=r"no row could be read \(1 bad; line 2: empty headline\)"):
        report.finish(parsed=0)
    with pytest.raises(DataError, match="f.csv: no rows"):
        RowReport("f.csv").finish(parsed=0)


# ---- the helpers every reader and command share ------------------------------------------------


def test_numbered_rows_give_editor_lines_and_bad_rows_in_their_place(tmp_path):
    from shared.datafiles import numbered_rows

    path = tmp_path / "data.csv"
    path.write_text('text,label\n"two\nlines",a\n\nshort\nok,b,surplus\n')
    columns, rows = numbered_rows(path)
    assert columns == ["text", "label"] and rows[0] == (3, {"text": "two\nlines", "label": "a"})  # the line a row ends on
    assert [(line, str(row)) for line, row in rows[1:]] == [(5, "wrong number of fields (1 field(s), the header has 2)"),
                                                          (6, "wrong number of fields (3 field(s), the header has 2)")]
    assert numbered_rows(path, short_rows=True)[1][1] == (5, {"text": "short", "label": None})


def test_skipped_rows_print_on_stderr_and_the_count_ends_the_summary(capsys):
    report = RowReport("f.csv")
    report.skip(3, "empty 'text'")
    report.skip("intent 'refund'", "empty list of templates")  # a place in words, where a file has no lines
    tail = print_skipped_rows([report, RowReport("g.csv")])
    assert capsys.readouterr().err == "f.csv:3: skipped: empty 'text'\nf.csv: intent 'refund': skipped: empty list of templates\n"
    assert tail == "; 2 bad row(s) skipped (listed above)" and print_skipped_rows([]) == "; 0 bad row(s) skipped"


def test_a_server_logs_the_skipped_rows_and_a_command_keeps_them(caplog):
    import logging

    with FileReports.or_logged(None, logging.getLogger("server")) as reports:
        reports.new("faq.csv").skip(2, "empty answer")
    assert [r.getMessage() for r in caplog.records] == ["faq.csv:2: skipped: empty answer"]
    mine = FileReports(strict=True)
    with FileReports.or_logged(mine, logging.getLogger("server")) as reports:
        assert reports is mine and reports.new("faq.csv").strict
    assert len(caplog.records) == 1 and len(mine.reports) == 1
