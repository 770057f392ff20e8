import datetime as dt
from pathlib import Path

import pytest

import recommender
from recommender.catalogue import Catalogue
from recommender.records import Feedback, Impression, Item
from shared.errors import DataError, NotFoundError
from shared.storage import migrate

MIGRATIONS = Path(recommender.__file__).parent / "migrations"
T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp()

# A made-up catalogue of kitchen gadgets.
GADGETS = [
    Item("g1", "Cast-iron skillet", "Pre-seasoned 26 cm pan for searing and baking", ("cookware",), T0),
    Item("g2", "Pour-over kettle", "Gooseneck kettle with a thermometer", ("coffee",), T0 + 60),
    Item("g3", "Burr grinder", "Conical burrs, 40 grind settings", ("coffee",), T0 + 120),
]


@pytest.fixture
def catalogue(db_engine):
    migrate(db_engine, MIGRATIONS, "recommender_alembic_version")
    return Catalogue(db_engine)


def test_items_are_stored_and_read_back(catalogue):
    assert catalogue.put_items(GADGETS) == 3
    item = catalogue.item("g2")
    assert (item["title"], item["categories"], item["hidden"]) == ("Pour-over kettle", ["coffee"], False)
    assert item["timestamp"] == dt.datetime(2026, 3, 1, 0, 1, tzinfo=dt.UTC)


def test_putting_an_item_again_replaces_it(catalogue):
    catalogue.put_items(GADGETS)
    catalogue.put_items([Item("g1", "Cast-iron skillet, 30 cm", "Bigger", ("cookware",), T0)])
    assert catalogue.item("g1")["title"] == "Cast-iron skillet, 30 cm"
    assert catalogue.counts()["items"] == 3


def test_items_page_through_with_cursors(catalogue):
    catalogue.put_items([Item(f"i{n:03d}", f"item {n}") for n in range(25)])
    seen, cursor = [], ""
    while True:
        page, cursor = catalogue.items(n=10, cursor=cursor)
        seen += [row["id"] for row in page]
        if not cursor:
            break
    assert seen == sorted(f"i{n:03d}" for n in range(25))


def test_patch_hides_an_item_and_refuses_unknown_fields(catalogue):
    catalogue.put_items(GADGETS)
    assert catalogue.patch_item("g3", hidden=True, categories=["coffee", "sale"])["hidden"] is True
    visible, _ = catalogue.items(include_hidden=False)
    assert [row["id"] for row in visible] == ["g1", "g2"]
    with pytest.raises(DataError, match="cannot change price"):
        catalogue.patch_item("g1", price=3)
    with pytest.raises(NotFoundError):
        catalogue.patch_item("nope", hidden=True)


def test_feedback_is_keyed_by_type_user_and_item(catalogue):
    catalogue.put_items(GADGETS)
    catalogue.add_feedback([Feedback("ann", "g2", "click", 1.0, T0 + 300), Feedback("ann", "g3", "click", 1.0, T0 + 400)])
    catalogue.add_feedback([Feedback("ann", "g2", "click", 1.0, T0 + 500)])  # a retry or a repeat: one row, newest time
    catalogue.add_feedback([Feedback("ann", "g2", "rating", 4.5, T0 + 500)])
    clicks = catalogue.user_feedback("ann", "click")
    assert [(f.item, f.timestamp) for f in clicks] == [("g2", T0 + 500), ("g3", T0 + 400)]
    assert len(catalogue.user_feedback("ann")) == 3
    assert catalogue.user("ann")["comment"] == ""  # created by its first feedback


def test_feedback_without_overwrite_keeps_the_first(catalogue):
    catalogue.put_items(GADGETS)
    catalogue.add_feedback([Feedback("ann", "g1", "rating", 2.0, T0)])
    assert catalogue.add_feedback([Feedback("ann", "g1", "rating", 5.0, T0 + 1)], overwrite=False) == 0
    assert catalogue.user_feedback("ann")[0].value == 2.0


def test_feedback_on_an_unknown_item_is_refused_whole(catalogue):
    catalogue.put_items(GADGETS)
    with pytest.raises(NotFoundError, match="unknown item.*nope"):
        catalogue.add_feedback([Feedback("ann", "g1", "click"), Feedback("ann", "nope", "click")])
    assert catalogue.counts()["feedback"] == 0


@pytest.mark.parametrize("bad", [Feedback("", "g1"), Feedback("ann", "g1", "a/b"), Feedback("x" * 300, "g1")])
def test_bad_ids_are_refused(catalogue, bad):
    catalogue.put_items(GADGETS)
    with pytest.raises(DataError):
        catalogue.add_feedback([bad])


def test_deleting_an_item_or_user_removes_its_feedback(catalogue):
    catalogue.put_items(GADGETS)
    catalogue.add_feedback([Feedback("ann", "g1"), Feedback("ann", "g2"), Feedback("bob", "g1")])
    catalogue.delete_item("g1")
    assert [f.item for f in catalogue.user_feedback("ann")] == ["g2"]
    catalogue.delete_user("ann")
    assert catalogue.counts() == {"items": 2, "users": 1, "feedback": 0, "impressions": 0}
    with pytest.raises(NotFoundError):
        catalogue.delete_item("g1")


def test_delete_feedback_of_one_pair(catalogue):
    catalogue.put_items(GADGETS)
    catalogue.add_feedback([Feedback("ann", "g1", "click"), Feedback("ann", "g1", "like"), Feedback("ann", "g2", "click")])
    assert catalogue.delete_feedback("ann", "g1") == 2
    assert [f.item for f in catalogue.user_feedback("ann")] == ["g2"]


def test_users_keep_a_free_text_profile(catalogue):
    catalogue.put_users([{"id": "cy", "labels": ["new"], "comment": "I brew coffee every morning"}])
    assert catalogue.user("cy")["comment"] == "I brew coffee every morning"
    page, cursor = catalogue.users(n=5)
    assert [u["id"] for u in page] == ["cy"] and cursor == ""


def test_impressions_record_what_was_shown_and_clicked(catalogue):
    impression_id = catalogue.add_impression(Impression("ann", ("g1", "g2", "g3"), frozenset({"g2"}), T0))
    assert impression_id >= 1 and catalogue.counts()["impressions"] == 1


def test_page_size_is_bounded(catalogue):
    with pytest.raises(DataError, match="n = 0"):
        catalogue.items(n=0)
