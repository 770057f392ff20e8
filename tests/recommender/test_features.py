import numpy as np
import pytest

from recommender.features import DAY, CategoryAffinity, item_recency, mean_feedback, popularity
from recommender.records import CLICK, VIEW, Feedback, Item
from shared.errors import DataError

FEEDBACK = [
    Feedback("u1", "a", CLICK, 5.0, 10 * DAY), Feedback("u2", "a", CLICK, 4.0, 0.0), Feedback("u3", "a", VIEW, 1.0, 10 * DAY),
    Feedback("u1", "b", CLICK, 4.0, 10 * DAY), Feedback("u1", "zz", CLICK, 5.0, 10 * DAY),
]


def test_popularity_counts_clicks_in_the_order_asked():
    np.testing.assert_array_equal(popularity(FEEDBACK, ["b", "a", "c"]), [1, 2, 0])
    np.testing.assert_array_equal(popularity(FEEDBACK, ["a"], clicks_only=False), [3])


def test_time_decay_halves_a_click_per_half_life_before_now():
    # a: one click now, one 10 days ago; b: one click now. Half-life 10 days.
    np.testing.assert_allclose(popularity(FEEDBACK, ["a", "b"], half_life=10 * DAY), [1.5, 1.0])
    np.testing.assert_allclose(popularity(FEEDBACK, ["a", "b"], now=20 * DAY, half_life=10 * DAY), [0.75, 0.5])
    with pytest.raises(DataError, match="timestamp"):
        popularity([Feedback("u", "a")], ["a"], half_life=DAY)


def test_recency_is_one_for_new_items_and_zero_for_undated_ones():
    items = [Item("new", "n", timestamp=100 * DAY), Item("old", "o", timestamp=80 * DAY), Item("undated", "u")]
    np.testing.assert_allclose(item_recency(items, ["new", "old", "undated"], now=100 * DAY, half_life=10 * DAY), [1.0, 0.25, 0.0])
    with pytest.raises(DataError, match="half_life"):
        item_recency(items, ["new"], now=0.0, half_life=0.0)


def test_mean_feedback_is_shrunk_towards_the_overall_mean():
    overall = np.mean([f.value for f in FEEDBACK if f.item in ("a", "b")])  # zz is not asked about
    a, b, unseen = mean_feedback(FEEDBACK, ["a", "b", "c"], prior_weight=1.0)
    assert a == pytest.approx((5 + 4 + 1 + overall) / 4)
    assert b == pytest.approx((4 + overall) / 2)
    assert unseen == pytest.approx(overall)
    np.testing.assert_allclose(mean_feedback(FEEDBACK, ["a", "b"], prior_weight=0.0), [10 / 3, 4.0])


def test_category_affinity_is_the_share_of_clicks_in_the_items_categories():
    items = [Item("d1", "x", categories=("drama",)), Item("d2", "x", categories=("drama", "war")),
             Item("c1", "x", categories=("comedy",)), Item("w1", "x", categories=("war",)), Item("n", "x")]
    affinity = CategoryAffinity().fit(items)
    history = ["d1", "d2", "c1", "n"]  # four clicks: two dramas (one also war), a comedy, no category
    np.testing.assert_allclose(affinity.transform(history, ["d1", "w1", "c1", "n", "unknown"]), [0.5, 0.25, 0.25, 0.0, 0.0])
    np.testing.assert_array_equal(affinity.transform([], ["d1"]), [0.0])
    with pytest.raises(DataError, match="not fitted"):
        CategoryAffinity().transform(["d1"], ["d1"])
    # An item added after fitting counts its categories at once (a category nobody clicked matches nothing).
    affinity.add_items([Item("d3", "x", categories=("drama", "musical"))])
    np.testing.assert_allclose(affinity.transform(history, ["d3", "unknown"]), [0.5, 0.0])


def test_repeated_ids_are_refused():
    with pytest.raises(DataError, match="repeat"):
        popularity(FEEDBACK, ["a", "a"])
