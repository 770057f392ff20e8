"""The recommendation API driven by gorse's own Python SDK (pygorse, unchanged) over real HTTP."""

from pathlib import Path

import pytest
import requests
from gorse import Gorse, GorseException

import recommender
from recommender.api import SOURCE_HEADER, make_blueprint
from recommender.catalogue import Catalogue
from recommender.service import RecommenderService
from shared.config import load_config
from shared.server import Plugin, build_app
from shared.storage import engine_for, migrate

API_KEY = "rec-key-for-tests-0123456789"

# A made-up shop: coffee gear, cookware and garden tools.
ITEMS = [
    ("grinder", "Conical burr coffee grinder with 40 grind settings", ["coffee"]),
    ("kettle", "Gooseneck pour-over kettle with a thermometer", ["coffee"]),
    ("espresso", "Espresso machine with a steam wand for milk", ["coffee"]),
    ("skillet", "Cast-iron skillet for searing steak", ["cookware"]),
    ("dutch-oven", "Enamelled dutch oven for slow-cooked stews", ["cookware"]),
    ("wok", "Carbon steel wok for stir fries", ["cookware"]),
    ("shears", "Pruning shears for roses and shrubs", ["garden"]),
    ("hose", "Expandable garden hose, 30 metres", ["garden"]),
]


def make_app(tmp_path, db_url, embedder, *, api_key=API_KEY):
    config = load_config(env={}, var_dir=tmp_path, testing=True, apps=["recommender"], database_url=db_url)
    engine = engine_for(db_url)
    migrate(engine, Path(recommender.__file__).parent / "migrations", "recommender_alembic_version")
    service = RecommenderService(Catalogue(engine), embedder=embedder)
    blueprint, spec = make_blueprint(service, settings={"api_key": api_key})
    app = build_app(config, [Plugin(name="recommender", title="Recommender", description="test", blueprint=blueprint,
                                    url_prefix="/rec", api_spec=spec)])
    app.extensions["test.service"] = service
    return app


@pytest.fixture
def gorse(tmp_path, db_url, embedder, live_server):
    base = live_server(make_app(tmp_path, db_url, embedder))
    client = Gorse(base + "/rec", API_KEY, timeout=30)
    for item_id, text, categories in ITEMS:
        client.insert_item({"ItemId": item_id, "IsHidden": False, "Categories": categories, "Timestamp": "2026-01-05T10:00:00Z",
                            "Labels": [], "Comment": text})
    client.base = base
    return client


def test_items_and_users_round_trip_through_the_sdk(gorse):
    item = gorse.get_item("kettle")
    assert (item["ItemId"], item["Categories"], item["Comment"], item["Timestamp"]) == (
        "kettle", ["coffee"], "Gooseneck pour-over kettle with a thermometer", "2026-01-05T10:00:00Z")
    items, cursor = gorse.get_items(5)
    assert len(items) == 5 and cursor
    rest, cursor = gorse.get_items(5, cursor)
    assert len(rest) == 3 and cursor == ""
    assert gorse.insert_user({"UserId": "ann", "Labels": ["new"], "Subscribe": [], "Comment": ""}) == {"RowAffected": 1}
    assert gorse.get_user("ann")["UserId"] == "ann"
    assert gorse.insert_users([{"UserId": "bob"}, {"UserId": "cy"}]) == {"RowAffected": 2}
    users, _ = gorse.get_users(10)
    assert [u["UserId"] for u in users] == ["ann", "bob", "cy"]


def test_clicks_steer_recommendations_and_seen_items_are_excluded(gorse):
    gorse.insert_feedbacks([{"FeedbackType": "click", "UserId": "ann", "ItemId": "grinder", "Timestamp": "2026-02-01T09:00:00Z", "Value": 1},
                            {"FeedbackType": "click", "UserId": "ann", "ItemId": "kettle", "Timestamp": "2026-02-02T09:00:00Z", "Value": 1}])
    recs = gorse.get_recommend("ann", n=3)
    assert [r.id for r in recs][0] == "espresso"  # the remaining coffee item ranks first
    assert not {"grinder", "kettle"} & {r.id for r in recs}
    assert recs[0].score >= recs[1].score
    raw = requests.get(f"{gorse.base}/rec/api/recommend/ann", params={"n": 3}, headers={"X-API-Key": API_KEY})
    assert raw.json() == [r.id for r in recs] and raw.headers[SOURCE_HEADER] == "content"
    assert [f["ItemId"] for f in gorse.list_feedbacks("click", "ann")] == ["kettle", "grinder"]


def test_new_feedback_moves_recommendations_at_once(gorse):
    gorse.insert_feedback("click", "bob", "skillet", "2026-02-01T09:00:00Z")
    assert gorse.get_recommend("bob", n=2)[0].id in {"dutch-oven", "wok"}
    gorse.insert_feedbacks([{"FeedbackType": "click", "UserId": "bob", "ItemId": i, "Timestamp": f"2026-03-0{k}T09:00:00Z", "Value": 1}
                            for k, i in enumerate(["shears", "hose"], 1)])
    assert gorse.get_recommend("bob", n=1)[0].id not in {"skillet", "shears", "hose"}


def test_a_new_item_is_recommendable_before_anyone_clicks_it(gorse):
    gorse.insert_feedback("click", "cy", "shears", "2026-02-01T09:00:00Z")
    gorse.insert_item({"ItemId": "trowel", "Comment": "Stainless hand trowel for planting bulbs in the garden", "Categories": ["garden"]})
    assert "trowel" in [r.id for r in gorse.get_recommend("cy", n=2)]


def test_category_filter_hidden_and_deleted_items(gorse):
    gorse.insert_feedback("click", "dee", "grinder", "2026-02-01T09:00:00Z")
    assert {r.id for r in gorse.get_recommend("dee", category="cookware", n=10)} == {"skillet", "dutch-oven", "wok"}
    gorse.update_item("espresso", is_hidden=True)
    gorse.delete_item("kettle")
    remaining = {r.id for r in gorse.get_recommend("dee", n=10)}
    assert not {"espresso", "kettle", "grinder"} & remaining
    with pytest.raises(GorseException) as missing:
        gorse.get_item("kettle")
    assert missing.value.status_code == 404


def test_cold_start_users_get_popular_items_or_their_profile(gorse):
    for user in ("u1", "u2", "u3"):
        gorse.insert_feedback("click", user, "wok", "2026-02-01T09:00:00Z")
    response = requests.get(f"{gorse.base}/rec/api/recommend/newcomer", params={"n": 1}, headers={"X-API-Key": API_KEY, "X-API-Version": "2"})
    assert response.json()[0]["Id"] == "wok" and response.headers[SOURCE_HEADER] == "popular"
    gorse.insert_user({"UserId": "gardener", "Comment": "I love gardening and growing roses"})
    profiled = requests.get(f"{gorse.base}/rec/api/recommend/gardener", params={"n": 2}, headers={"X-API-Key": API_KEY})
    assert profiled.headers[SOURCE_HEADER] == "profile" and "shears" in profiled.json()


def test_neighbors_session_popular_and_search(gorse):
    neighbors = gorse.get_neighbors("skillet", n=2)
    assert {n["Id"] for n in neighbors} <= {"dutch-oven", "wok", "espresso", "grinder", "kettle"} and len(neighbors) == 2
    session = gorse.session_recommend([{"FeedbackType": "click", "UserId": "", "ItemId": "hose", "Timestamp": "2026-02-01T09:00:00Z"}], n=1)
    assert session[0]["Id"] == "shears"
    gorse.insert_feedback("click", "ann", "wok", "2026-02-01T09:00:00Z")
    assert requests.get(f"{gorse.base}/rec/api/popular", params={"n": 1}, headers={"X-API-Key": API_KEY}).json()[0]["Id"] == "wok"
    found = gorse.search_items("brewing coffee at home", n=3)
    assert len(found) == 3 and found[0]["ItemId"] in {"grinder", "kettle", "espresso"}


def test_a_session_reads_feedback_types_as_stored_feedback_is_read(gorse):
    def session(*records):
        body = [{"UserId": "", "Timestamp": "2026-02-01T09:00:00Z", **r} for r in records]
        response = requests.post(f"{gorse.base}/rec/api/session/recommend", params={"n": 8}, json=body, headers={"X-API-Key": API_KEY})
        assert response.status_code == 200, response.text
        return response.headers[SOURCE_HEADER], [r["Id"] for r in response.json()]

    # "read" is seen (never recommended) and "bookmark" is no configured type: neither is history, so the session is cold.
    source, ids = session({"FeedbackType": "read", "ItemId": "hose"}, {"FeedbackType": "bookmark", "ItemId": "grinder"})
    assert source == "popular" and "hose" not in ids and "grinder" in ids and len(ids) == 7
    source, ids = session({"FeedbackType": "star", "ItemId": "hose"})  # a positive type is history, as a click is
    assert source == "content" and ids[0] == "shears" and "hose" not in ids


def test_feedback_pages_and_deletes(gorse):
    gorse.insert_feedbacks([{"FeedbackType": "click", "UserId": f"p{k}", "ItemId": "wok", "Timestamp": "2026-02-01T09:00:00Z"} for k in range(5)])
    first, cursor = gorse.get_feedbacks(3)
    second, end = gorse.get_feedbacks(3, cursor)
    assert len(first) == 3 and len(second) == 2 and end == ""
    assert gorse.delete_feedback("p0", "wok") == {"RowAffected": 1}


def test_the_api_key_is_required_and_closed_when_unset(tmp_path, db_url, embedder, live_server, gorse):
    with pytest.raises(GorseException) as wrong:
        Gorse(gorse.base + "/rec", "wrong-key").get_item("wok")
    assert wrong.value.status_code == 401
    closed = live_server(make_app(tmp_path / "closed", f"sqlite:///{tmp_path}/closed.db", embedder, api_key=""))
    with pytest.raises(GorseException) as refused:
        Gorse(closed + "/rec", "").get_items(1)
    assert refused.value.status_code == 403


def test_bad_input_is_a_400_naming_the_field(gorse):
    headers = {"X-API-Key": API_KEY}
    bad_time = requests.post(f"{gorse.base}/rec/api/feedback", headers=headers,
                             json=[{"FeedbackType": "click", "UserId": "ann", "ItemId": "wok", "Timestamp": "yesterday"}])
    assert bad_time.status_code == 400 and bad_time.json()["error"]["field"] == "Timestamp"
    unknown = requests.post(f"{gorse.base}/rec/api/feedback", headers=headers, json=[{"FeedbackType": "click", "UserId": "ann", "ItemId": "nope"}])
    assert unknown.status_code == 404 and "unknown item" in unknown.json()["error"]["message"]
    assert requests.get(f"{gorse.base}/rec/api/recommend/ann", params={"n": 0}, headers=headers).status_code == 400
