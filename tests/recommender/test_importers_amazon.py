import json

import pytest

from recommender.importers import import_amazon, read_amazon_items
from recommender.importers.amazon import clean_description
from recommender.records import CLICK
from shared.errors import DataError
from tests.conftest import SHARED_DATA

ITEMS = {
    "0": {"title": "Blue Ink Pen, 10-Pack", "description": "['Smooth blue ink.', 'Fine point.']", "brand": "Penco", "categories": ""},
    "1": {"title": "Stapler &amp; Staples", "description": "['<b>Heavy</b> duty <!-- .css {color:red} --> stapler.']", "brand": "", "categories": ""},
    "2": {"title": "Lab Goggles", "description": "", "brand": "SafeCo", "categories": "Safety,Eyewear"},
}
HEADER = "user_id,history_item_title,item_title,history_item_id,item_id,history_item_sid,item_sid\n"


def write(tmp_path, items=ITEMS, rows: str = ""):
    (tmp_path / "items.json").write_text(json.dumps(items))
    (tmp_path / "train.csv").write_text(HEADER + rows)
    return tmp_path / "items.json", tmp_path / "train.csv"


def test_items_get_clean_text_with_the_brand_and_rows_become_cases_and_clicks(tmp_path):
    rows = "A1,\"['x']\",y,[0],1,s,t\nA2,\"['x', 'y']\",z,\"[0, 1]\",2,s,t\nA1,\"['x']\",y,\"[0, 1]\",0,s,t\n"
    result = import_amazon(*write(tmp_path, rows=rows))
    items = {i.id: i for i in result.items}
    assert items["0"].text == "Brand: Penco. Smooth blue ink. Fine point."
    assert items["1"].title == "Stapler & Staples" and items["1"].text == "Heavy duty stapler."
    assert items["2"].categories == ("Safety", "Eyewear")
    assert [(c.user, c.history, c.item, c.timestamp) for c in result.cases] == [
        ("A1", ("0",), "1", 0.0), ("A2", ("0", "1"), "2", 1.0), ("A1", ("0", "1"), "0", 2.0)]
    assert [(f.user, f.item, f.type, f.timestamp) for f in result.feedback] == [
        ("A1", "1", CLICK, 0.0), ("A2", "2", CLICK, 1.0), ("A1", "0", CLICK, 2.0)]


def test_a_second_file_continues_the_first_ones_clock(tmp_path):
    items, train = write(tmp_path, rows="A1,a,b,[0],1,s,t\n")
    (tmp_path / "validation.csv").write_text(HEADER + "A1,a,b,\"[0, 1]\",2,s,t\n")
    result = import_amazon(items, train, tmp_path / "validation.csv")
    assert [c.timestamp for c in result.cases] == [0.0, 1.0]


def test_the_brand_can_serve_as_a_category(tmp_path):
    items, _ = read_amazon_items(write(tmp_path)[0], brand_as_category=True)
    assert [i.categories for i in items] == [("Penco",), (), ("Safety", "Eyewear", "SafeCo")]


def test_bad_rows_are_counted_or_raise_in_strict_mode(tmp_path):
    rows = "A1,a,b,[0],1,s,t\nA1,a,b,[0],77,s,t\nA1,a,b,\"[0,,]\",1,s,t\nA1,a,b,\"['0', None]\",1,s,t\n,a,b,[0],1,s,t\n"
    items = {**ITEMS, "3": {"title": "", "description": ""}, "4": "not an object"}
    result = import_amazon(*write(tmp_path, items, rows))
    item_report, row_report = result.reports
    assert item_report.skipped == {"missing field": 1, "not a JSON object": 1}
    assert (row_report.rows_read, row_report.imported) == (5, 1)
    assert row_report.skipped == {"unknown item": 1, "bad history": 2, "missing field": 1}
    with pytest.raises(DataError, match=r"train.csv: row 3: unknown item \(77\)"):
        import_amazon(*write(tmp_path, ITEMS, rows), strict=True)
    with pytest.raises(DataError, match=r"item '3': missing field \(title\)"):
        import_amazon(*write(tmp_path, items, ""), strict=True)


def test_a_catalogue_that_is_not_a_json_object_is_an_error(tmp_path):
    (tmp_path / "items.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="expected one JSON object"):
        read_amazon_items(tmp_path / "items.json")
    (tmp_path / "items.json").write_text("{broken")
    with pytest.raises(DataError, match="not a JSON file"):
        read_amazon_items(tmp_path / "items.json")


def test_descriptions_lose_markup_and_survive_odd_values():
    assert clean_description("['a &amp; b', '<style>p {x: 1}</style>c']") == "a & b c"
    assert clean_description("[unbalanced") == "[unbalanced"
    assert clean_description(None) == ""
    assert len(clean_description("['" + "word " * 2000 + "']")) <= 2000


AMAZON = SHARED_DATA / "amazon2018_industrial_office"


@pytest.mark.skipif(not (AMAZON / "items_Office_Products.json").is_file(), reason="Amazon 2018 copy not present")
def test_the_shared_amazon_copy_imports_without_a_skip():
    result = import_amazon(AMAZON / "items_Office_Products.json", AMAZON / "train_Office_Products.csv", strict=True)
    assert len(result.cases) == len(result.feedback) == 3892
    assert not any(r.skipped for r in result.reports)
