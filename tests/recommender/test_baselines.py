import numpy as np
import pytest

from recommender.baselines import ContentRecommender, PopularRecommender, RecentRecommender
from recommender.records import CLICK, VIEW, Feedback, Item
from shared.embeddings import Embedder
from shared.errors import DataError

# A made-up shop: three baking books, three hiking items, two others.
ITEMS = [
    Item("bread", "Everyday Bread", "Baking loaves at home: flour, yeast and a hot oven.", ("books", "baking"), 100.0),
    Item("cakes", "Cakes for Beginners", "Sponges, icing and birthday cakes baked step by step.", ("books", "baking"), 200.0),
    Item("pastry", "Pastry School", "Puff pastry, croissants and tarts from your own kitchen.", ("books", "baking"), 300.0),
    Item("boots", "Trail Boots", "Waterproof hiking boots for rocky mountain paths.", ("outdoor",), 150.0),
    Item("tent", "Two-Person Tent", "A light tent for camping on long hikes.", ("outdoor",), 250.0),
    Item("map", "Mountain Maps", "Walking maps of mountain trails and summits.", ("books", "outdoor"), 50.0),
    Item("kettle", "Electric Kettle", "Boils water fast, with a steel body.", ("kitchen",), 400.0),
    Item("chess", "Chess Set", "Wooden board and pieces for two players.", ("games",), 10.0),
]
FEEDBACK = [
    Feedback("baker", "bread", CLICK, 1, 1000.0), Feedback("baker", "cakes", CLICK, 1, 2000.0),
    Feedback("baker", "kettle", VIEW, 1, 2500.0),
    Feedback("hiker", "boots", CLICK, 1, 1000.0), Feedback("hiker", "map", CLICK, 1, 1500.0),
    Feedback("x", "kettle", CLICK, 1, 10.0), Feedback("y", "kettle", CLICK, 1, 20.0), Feedback("z", "chess", CLICK, 1, 30.0),
]


@pytest.fixture(scope="module")
def embedder():
    """The real packaged MiniLM, loaded once for this module."""
    return Embedder()


@pytest.fixture(scope="module")
def content(embedder):
    return ContentRecommender(embedder).fit(ITEMS, FEEDBACK)


def ids(recommendations):
    return [r.item for r in recommendations]


def test_popular_ranks_by_clicks_and_applies_the_filters():
    popular = PopularRecommender().fit(ITEMS, FEEDBACK)
    assert ids(popular.recommend(2)) == ["kettle", "bread"]  # 2 clicks, then the first of the 1-click items
    assert ids(popular.recommend(2, exclude={"kettle"}, hidden={"bread"})) == ["cakes", "boots"]
    assert ids(popular.recommend(3, categories={"outdoor"})) == ["boots", "map", "tent"]
    assert {r.source for r in popular.recommend(8)} == {"popular"}
    np.testing.assert_array_equal(popular.score(["chess", "tent", "unknown"]), [1, 0, 0])
    popular.add_feedback([Feedback("v", "tent", CLICK), Feedback("w", "tent", CLICK), Feedback("w", "chess", VIEW),
                          Feedback("w", "unknown", CLICK)])
    assert ids(popular.recommend(2)) == ["tent", "kettle"]  # tied at 2 clicks: catalogue order
    np.testing.assert_array_equal(popular.score(["chess", "tent"]), [1, 2])


def test_recent_ranks_by_item_time_then_clicks_and_new_items_join():
    recent = RecentRecommender().fit(ITEMS, FEEDBACK)
    assert ids(recent.recommend(3)) == ["kettle", "pastry", "tent"]
    recent.add_items([Item("new", "Brand new")], now=1000.0)
    recent.add_items([Item("old", "Catalogue back issue", timestamp=1.0)])
    assert ids(recent.recommend(2)) == ["new", "kettle"]
    assert ids(recent.recommend(20))[-1] == "old"
    # Undated items tie at the bottom, ranked by clicks: a click lifts one over another.
    undated = RecentRecommender().fit([Item("p", "P"), Item("q", "Q")], [])
    assert ids(undated.add_feedback([Feedback("u", "q", CLICK)]).recommend(2)) == ["q", "p"]
    with pytest.raises(DataError, match="n must be a positive integer"):
        recent.recommend(0)


def test_a_user_gets_items_like_their_clicks_without_the_ones_seen(content):
    recommendations = content.recommend("baker", 2)
    assert ids(recommendations) == ["pastry", recommendations[1].item]
    assert not {"bread", "cakes", "kettle"} & set(ids(content.recommend("baker", 5)))  # seen, clicked or not
    assert {r.source for r in recommendations} == {"content"}
    assert ids(content.recommend("hiker", 1)) == ["tent"]


def test_seen_items_come_back_when_asked_and_filters_hold(content):
    assert ids(content.recommend("baker", 1, exclude_seen=False)) in (["bread"], ["cakes"])
    assert ids(content.recommend("baker", 2, categories={"outdoor"})) == ids(content.recommend("baker", 8, categories={"outdoor"}))[:2]
    assert set(ids(content.recommend("baker", 8, categories={"outdoor"}))) == {"boots", "tent", "map"}
    assert "pastry" not in ids(content.recommend("baker", 3, hidden={"pastry"}))


def test_a_cold_start_item_is_recommended_before_anyone_clicks_it(embedder):
    recommender = ContentRecommender(embedder).fit(ITEMS, FEEDBACK)
    recommender.add_items([Item("sourdough", "Sourdough Baking", "Bake crusty sourdough bread loaves with a starter.", ("books", "baking"))])
    assert ids(recommender.recommend("baker", 1)) == ["sourdough"]
    assert "sourdough" in ids(recommender.recommend(None, 9))  # popular fallback knows it too, last in line


def test_a_cold_start_user_gets_popular_items_or_what_their_profile_text_says(content):
    fallback = content.recommend("nobody", 2)
    assert ids(fallback) == ["kettle", "bread"] and {r.source for r in fallback} == {"popular"}
    profiled = content.recommend("nobody", 1, profile_text="I love hiking in the mountains and camping")
    assert profiled[0].source == "profile" and profiled[0].item in {"tent", "boots", "map"}


def test_new_feedback_moves_recommendations_at_once(embedder):
    recommender = ContentRecommender(embedder).fit(ITEMS, FEEDBACK)
    assert recommender.recommend("newcomer", 1)[0].source == "popular"
    recommender.add_feedback([Feedback("newcomer", "tent", CLICK, 1, 5000.0)])
    first = recommender.recommend("newcomer", 2)
    assert first[0].source == "content" and first[0].item in {"boots", "map"} and "tent" not in ids(first)


def test_score_is_the_cosine_to_the_user_vector():
    vectors = np.eye(len(ITEMS), dtype=np.float32)
    recommender = ContentRecommender(half_life=None).fit(ITEMS, FEEDBACK, vectors=vectors)
    scores = recommender.score(["bread", "cakes", "boots"], user="baker")
    np.testing.assert_allclose(scores.values, [1 / np.sqrt(2), 1 / np.sqrt(2), 0.0], atol=1e-6)
    assert scores.source == "content"
    with pytest.raises(DataError, match="unknown item"):
        recommender.score(["nothing"], user="baker")


def test_recent_clicks_weigh_more_in_the_user_vector():
    vectors = np.eye(len(ITEMS), dtype=np.float32)
    recommender = ContentRecommender(half_life=1000.0).fit(ITEMS, FEEDBACK, vectors=vectors)
    bread, cakes = recommender.score(["bread", "cakes"], user="baker").values  # cakes clicked 1000 s later
    assert cakes / bread == pytest.approx(2.0)
    # An explicit history (e.g. an Amazon row) overrides the stored one.
    only_map = recommender.score(["map", "bread"], history=["map"]).values
    np.testing.assert_allclose(only_map, [1.0, 0.0], atol=1e-6)


def test_the_cold_start_fallback_can_be_recent_items_and_honours_the_filters():
    recommender = ContentRecommender(fallback=RecentRecommender()).fit(ITEMS, FEEDBACK, vectors=np.eye(len(ITEMS), dtype=np.float32))
    fallback = recommender.recommend("nobody", 2, hidden={"kettle"})
    assert ids(fallback) == ["pastry", "tent"] and {r.source for r in fallback} == {"recent"}
    assert recommender.score(["pastry", "chess"], user="nobody").source == "recent"
