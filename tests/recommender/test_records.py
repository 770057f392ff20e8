import pytest

from recommender.records import CLICK, VIEW, Feedback, Impression, Item


def test_an_item_document_is_its_title_then_its_text():
    assert Item("1", "Heat (1995)", "Genres: Crime.").document == "Heat (1995). Genres: Crime."
    assert Item("2", "Untitled").document == "Untitled"


def test_only_click_feedback_is_a_click():
    assert Feedback("u", "i", CLICK).is_click
    assert not Feedback("u", "i", VIEW, 3.0).is_click


def test_impression_labels_follow_the_shown_order_and_clicks_must_have_been_shown():
    impression = Impression("u", ("a", "b", "c"), frozenset({"c"}))
    assert impression.labels == (0, 0, 1)
    with pytest.raises(ValueError, match="not shown"):
        Impression("u", ("a",), frozenset({"z"}))
