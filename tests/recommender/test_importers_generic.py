import json

import pytest

from recommender.importers import import_feedback, import_items
from recommender.records import CLICK
from shared.errors import DataError


def test_items_from_csv_with_categories_and_iso_times(tmp_path):
    path = tmp_path / "items.csv"
    path.write_text("id,title,text,categories,timestamp\na,Tea pot,Cast iron.,kitchen|tea,2024-01-02T00:00:00Z\nb,Mug,,kitchen,\n")
    items, report = import_items(path)
    assert [(i.id, i.title, i.text, i.categories, i.timestamp) for i in items] == [
        ("a", "Tea pot", "Cast iron.", ("kitchen", "tea"), 1704153600.0), ("b", "Mug", "", ("kitchen",), None)]
    assert report.summary().endswith("2 rows read, 2 imported, 0 skipped")


def test_gorse_field_names_import_unchanged_from_jsonl(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_text(json.dumps({"ItemId": "7", "Comment": "A guide to bread", "Labels": ["baking", "food"], "Timestamp": "2024-01-02"}) + "\n")
    items, _ = import_items(path)
    assert items[0].title == "A guide to bread" and items[0].categories == ("baking", "food")
    assert items[0].timestamp == 1704153600.0
    path = tmp_path / "feedback.jsonl"
    path.write_text(json.dumps({"FeedbackType": "like", "UserId": "u1", "ItemId": "7", "Timestamp": "2024-01-03T10:00:00"}) + "\n")
    feedback, _ = import_feedback(path)
    assert [(f.user, f.item, f.type, f.value, f.timestamp) for f in feedback] == [("u1", "7", "like", 1.0, 1704276000.0)]


def test_columns_can_be_named_and_unknown_names_are_errors(tmp_path):
    path = tmp_path / "news.csv"
    path.write_text("key,headline\nn1,Rain again\n")
    items, _ = import_items(path, columns={"id": "key", "title": "headline"})
    assert items[0].id == "n1" and items[0].title == "Rain again"
    with pytest.raises(DataError, match="no column 'heading'"):
        import_items(path, columns={"id": "key", "title": "heading"})
    with pytest.raises(DataError, match="no id column"):
        import_items(path)
    with pytest.raises(DataError, match="unknown field"):
        import_items(path, columns={"colour": "key"})


def test_feedback_defaults_to_clicks_and_checks_items_when_asked(tmp_path):
    path = tmp_path / "feedback.csv"
    path.write_text("user,item,value,timestamp\nu1,a,,100\nu1,zz,,101\nu2,a,2.5,x\nu2,a,many,5\nu2,b,1,\n")
    feedback, report = import_feedback(path, known_items={"a", "b"})
    assert [(f.user, f.item, f.type, f.value, f.timestamp) for f in feedback] == [("u1", "a", CLICK, 1.0, 100.0), ("u2", "b", CLICK, 1.0, None)]
    assert report.skipped == {"unknown item": 1, "bad timestamp": 1, "bad value": 1}
    with pytest.raises(DataError, match=r"feedback.csv: row 3: unknown item \(zz\)"):
        import_feedback(path, known_items={"a", "b"}, strict=True)


def test_broken_jsonl_lines_cost_only_themselves(tmp_path):
    path = tmp_path / "items.jsonl"
    path.write_bytes(b'{"id": "a", "title": "ok"}\n{broken\n[1]\n\n{"id": "a", "title": "again"}\n{"id": "c"}\n' + b'{"id": "d", "title": "\xff"}\n')
    items, report = import_items(path)
    assert [i.id for i in items] == ["a"]
    assert report.skipped == {"invalid JSON": 1, "not a JSON object": 1, "duplicate item id": 1, "missing field": 1, "not UTF-8 text": 1}
    with pytest.raises(DataError, match="items.jsonl: line 2: invalid JSON"):
        import_items(path, strict=True)


def test_unsupported_or_empty_files(tmp_path):
    (tmp_path / "items.xml").write_text("<items/>")
    with pytest.raises(DataError, match="unsupported file type .xml"):
        import_items(tmp_path / "items.xml")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DataError, match="no rows"):
        import_items(tmp_path / "empty.jsonl")
