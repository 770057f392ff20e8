"""`troika run` hosts the recommender: on a fresh machine it serves /rec with the demo film club, on SQLite and PostgreSQL."""

import time

import pytest

from recommender import cli
from recommender.api import SOURCE_HEADER
from recommender.plugin import make_plugin
from shared.config import load_config
from shared.errors import ConfigError
from shared.server import build_app

KEY = "rec-plugin-key-0123456789"
V2 = {"X-API-Key": KEY, "X-API-Version": "2"}


def start(var_dir, db_url, embedder, **settings):
    config = load_config(env={}, var_dir=var_dir, database_url=db_url, testing=True, apps=["recommender"])
    # No retrain job unless a test asks: a background training would only slow the others down.
    config = config.replace(sections={"recommender": {"api_key": KEY, "retrain_every": 0, **settings}})
    plugin = make_plugin(config, embedder=embedder)
    plugin.prepare()
    return plugin, build_app(config, [plugin]).test_client()


@pytest.fixture(scope="module")
def shared_var(tmp_path_factory):
    return tmp_path_factory.mktemp("var")  # the item-vector cache is shared: only the first start embeds


@pytest.fixture
def served(shared_var, db_url, embedder, monkeypatch):
    monkeypatch.delenv("TROIKA_RECOMMENDER_API_KEY", raising=False)
    return start(shared_var, db_url, embedder)


def test_a_fresh_start_serves_demo_recommendations_with_scores(tmp_path, db_url, embedder, monkeypatch):
    monkeypatch.delenv("TROIKA_RECOMMENDER_API_KEY", raising=False)
    plugin, client = start(tmp_path, db_url, embedder)
    assert plugin.state.service.catalogue.counts()["items"] == 60
    assert list((tmp_path / "recommender" / "vectors").glob("vectors-*.npy"))  # cached for the next start
    ready = client.get("/health/ready")
    assert ready.status_code == 200 and ready.json["checks"]["recommender"]["ok"]
    response = client.get("/rec/api/recommend/cai", query_string={"n": 5}, headers=V2)
    assert response.status_code == 200 and response.headers[SOURCE_HEADER] == "content"
    recs = response.json
    assert len(recs) == 5 and all(isinstance(r["Score"], float) for r in recs)
    assert [r["Score"] for r in recs] == sorted((r["Score"] for r in recs), reverse=True)
    clicked = {f["ItemId"] for f in client.get("/rec/api/user/cai/feedback", headers=V2).json}
    assert clicked and not clicked & {r["Id"] for r in recs}  # seen items are not recommended again
    # A second start on the same database adds nothing twice.
    again, _ = start(tmp_path, db_url, embedder)
    assert again.state.service.catalogue.counts()["items"] == 60


def test_a_cold_start_user_gets_the_fallback_named_in_the_header(served):
    _, client = served
    response = client.get("/rec/api/recommend/newcomer", query_string={"n": 3}, headers=V2)
    assert response.status_code == 200 and response.headers[SOURCE_HEADER] == "popular"
    assert len(response.json) == 3 and response.json[0]["Score"] >= response.json[-1]["Score"] > 0


def test_an_item_inserted_through_the_api_is_a_neighbour_at_once(served):
    _, client = served
    new = {"ItemId": "f61", "Categories": ["animation", "family"], "Timestamp": "2026-03-10T10:00:00Z", "Labels": ["robot"],
           "Comment": "A girl builds a robot dog from scrap metal, and it becomes the hero of her neighbourhood in this cartoon adventure."}
    assert client.post("/rec/api/item", json=new, headers=V2).json == {"RowAffected": 1}
    near = client.get("/rec/api/item/f51/neighbors", query_string={"n": 3}, headers=V2)
    assert near.status_code == 200 and near.headers[SOURCE_HEADER] == "similar-items"
    assert near.json[0]["Id"] == "f61"
    own = client.get("/rec/api/item/f61/neighbors", query_string={"n": 3}, headers=V2)
    assert own.status_code == 200 and own.json[0]["Id"] == "f51"


def test_new_feedback_moves_recommendations_at_once_and_score_reranks(served):
    _, client = served
    before = client.get("/rec/api/recommend/zed", query_string={"n": 5}, headers=V2)
    assert before.headers[SOURCE_HEADER] == "popular"
    clicks = [{"FeedbackType": "click", "UserId": "zed", "ItemId": i, "Timestamp": f"2026-03-1{k}T09:00:00Z"}
              for k, i in enumerate(["f37", "f40", "f47"])]  # three crime thrillers
    assert client.post("/rec/api/feedback", json=clicks, headers=V2).json == {"RowAffected": 3}
    after = client.get("/rec/api/recommend/zed", query_string={"n": 5}, headers=V2)
    assert after.headers[SOURCE_HEADER] == "content" and after.json != before.json
    assert not {"f37", "f40", "f47"} & {r["Id"] for r in after.json}
    scored = client.post("/rec/api/score", json={"UserId": "zed", "ItemIds": ["f53", "f42"]}, headers=V2)
    assert scored.status_code == 200 and scored.headers[SOURCE_HEADER] == "content"
    assert [s["Id"] for s in scored.json] == ["f53", "f42"]
    assert scored.json[1]["Score"] > scored.json[0]["Score"]  # the smuggling thriller over the snail race
    cold = client.post("/rec/api/score", json={"UserId": "nobody", "ItemIds": ["f01"]}, headers=V2)
    assert cold.status_code == 200 and cold.headers[SOURCE_HEADER] == "popular"
    unknown = client.post("/rec/api/score", json={"UserId": "zed", "ItemIds": ["nope"]}, headers=V2)
    assert unknown.status_code == 404
    assert client.post("/rec/api/score", json={"UserId": "zed", "ItemIds": []}, headers=V2).status_code == 400
    assert client.delete("/rec/api/item/f42", headers=V2).status_code == 200
    assert client.post("/rec/api/score", json={"UserId": "zed", "ItemIds": ["f42"]}, headers=V2).status_code == 404


def test_without_the_demo_an_empty_catalogue_is_not_ready_until_an_item_arrives(tmp_path, db_url, embedder):
    plugin, client = start(tmp_path, db_url, embedder, demo=False)
    assert plugin.state.service.catalogue.counts()["items"] == 0
    assert client.get("/health/ready").status_code == 503
    item = {"ItemId": "solo", "Comment": "The only film in an empty club"}
    assert client.post("/rec/api/item", json=item, headers=V2).status_code == 200
    assert client.get("/health/ready").status_code == 200
    assert [r["Id"] for r in client.get("/rec/api/popular", headers=V2).json] == ["solo"]


def test_the_api_key_is_required_when_configured_and_closed_when_unset(served, shared_var, db_url, embedder, monkeypatch):
    _, client = served
    assert client.get("/rec/api/popular").status_code == 401
    assert client.get("/rec/api/popular", headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.get("/rec/api/popular", headers={"X-API-Key": KEY}).status_code == 200
    assert client.get("/rec/api/health/ready").status_code == 200  # health needs no key
    page = client.get("/rec/")  # where the landing page links: a short page, no key needed
    assert page.status_code == 200 and "60 items" in page.get_data(as_text=True)
    assert client.get("/").status_code == 200 and 'href="/rec/"' in client.get("/").get_data(as_text=True)
    _, closed = start(shared_var, db_url, embedder, api_key="")
    assert closed.get("/rec/api/popular", headers={"X-API-Key": ""}).status_code == 403
    monkeypatch.setenv("TROIKA_RECOMMENDER_API_KEY", "from-the-environment-0123")
    _, from_env = start(shared_var, db_url, embedder, api_key="")
    assert from_env.get("/rec/api/popular", headers={"X-API-Key": "from-the-environment-0123"}).status_code == 200


def test_rec_serve_runs_the_suite_server_with_the_recommender_alone(monkeypatch):
    import argparse

    import shared.server

    served = {}
    monkeypatch.setattr(shared.server, "serve", lambda config: served.setdefault("config", config))
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["rec", "serve", "--port", "8123"])
    assert args.func(args) == "server stopped"
    assert tuple(served["config"].apps) == ("recommender",) and served["config"].port == 8123


def test_a_promoted_click_model_ranks_at_once_without_a_restart(tmp_path, db_url, embedder, monkeypatch):
    monkeypatch.delenv("TROIKA_RECOMMENDER_API_KEY", raising=False)
    plugin, client = start(tmp_path, db_url, embedder, fine_tune=False)
    app = plugin.state
    assert client.get("/rec/api/recommend/cai", headers=V2).headers[SOURCE_HEADER] == "content"  # no click model yet

    counts = app.retrain()  # what the scheduled job runs: the first model is promoted and served by this process
    assert counts["promoted"] and app.version == app.store.active()
    response = client.get("/rec/api/recommend/cai", query_string={"n": 5}, headers=V2)
    assert response.headers[SOURCE_HEADER] == "model"
    assert all(0 < r["Score"] < 1 for r in response.json)  # calibrated click probabilities
    assert "ranked by click model" in client.get("/health/ready").json["checks"]["recommender"]["detail"]
    cold = client.get("/rec/api/recommend/newcomer", query_string={"n": 3}, headers=V2)
    assert cold.headers[SOURCE_HEADER] == "fallback" and len(cold.json) == 3

    # A film inserted now, after training, is scored by the click model too, and a sci-fi fan
    # is likelier to click it than a food lover is.
    film = {"ItemId": "f99", "Comment": "A starship crew wakes from cryosleep to find their colony planet already settled by robots",
            "Categories": ["sci-fi"], "Timestamp": "2026-05-01T10:00:00Z"}
    assert client.post("/rec/api/item", json=film, headers=V2).status_code == 200
    scored = {}
    for user in ("cai", "fay"):
        answer = client.post("/rec/api/score", json={"UserId": user, "ItemIds": ["f99"]}, headers=V2)
        assert answer.status_code == 200 and answer.headers[SOURCE_HEADER] == "model"
        scored[user] = answer.json[0]["Score"]
    assert scored["cai"] > scored["fay"], scored

    # Another process (troika rec publish, or a second server's retrain) activates a version:
    # the watcher swaps it in; a version that will not load leaves the serving one in place.
    first = app.version
    broken = app.store.new_version_dir()
    broken.mkdir(parents=True)
    (broken / "manifest.json").write_text("{}")
    (app.store.root / "ACTIVE").write_text(broken.name + "\n")
    assert not app.watcher.check()
    assert client.get("/rec/api/recommend/cai", headers=V2).headers[SOURCE_HEADER] == "model" and app.version == first
    app.store.activate(first)
    app.shutdown()


def test_on_a_fresh_machine_the_retrain_job_runs_at_once_and_its_model_serves(tmp_path, db_url, embedder, monkeypatch):
    monkeypatch.delenv("TROIKA_RECOMMENDER_API_KEY", raising=False)
    plugin, client = start(tmp_path, db_url, embedder, retrain_every=3600, fine_tune=False, reload_seconds=0.2)
    app = plugin.state
    try:
        assert app.scheduler is not None and app.scheduler.running
        deadline = time.monotonic() + 120
        while app.service.click_model_ is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.get("/rec/api/recommend/cai", headers=V2).headers[SOURCE_HEADER] == "model"
        detail = client.get("/health/ready").json["checks"]["recommender"]["detail"]
        assert "ranked by click model" in detail and "retrain ok" in detail
        # A second server on the same deployment serves too, but leaves the job to the first.
        second, _ = start(tmp_path, db_url, embedder, retrain_every=3600, fine_tune=False)
        assert second.state.scheduler is None and second.state.version == app.store.active()
        second.state.shutdown()
    finally:
        app.shutdown()
    assert not app.scheduler.running


def test_a_damaged_active_model_leaves_the_content_model_serving(tmp_path, db_url, embedder, monkeypatch):
    monkeypatch.delenv("TROIKA_RECOMMENDER_API_KEY", raising=False)
    store = tmp_path / "recommender" / "models"
    (store / "v1").mkdir(parents=True)
    (store / "v1" / "manifest.json").write_text("{}")
    (store / "ACTIVE").write_text("v1\n")
    plugin, client = start(tmp_path, db_url, embedder)
    assert client.get("/health/ready").status_code == 200
    assert client.get("/rec/api/recommend/cai", headers=V2).headers[SOURCE_HEADER] == "content"
    plugin.state.shutdown()


@pytest.mark.parametrize("table, message", [({"demo": "no"}, "recommender.demo"), ({"api_kee": "x"}, "unknown key"),
                                            ({"ranking": "magic"}, "recommender.ranking"),
                                            ({"retrain_every": "daily"}, "recommender.retrain_every")])
def test_a_bad_recommender_table_stops_the_server_before_it_starts(tmp_path, table, message):
    config = load_config(env={}, var_dir=tmp_path, testing=True, apps=["recommender"]).replace(sections={"recommender": table})
    with pytest.raises(ConfigError, match=message):
        make_plugin(config)


def test_a_gorse_client_sending_star_feedback_gets_model_ranked_recommendations(tmp_path, db_url, embedder, live_server, monkeypatch):
    # Issue 22: only "click" counted, so a gorse client's "star" left its user on the fallback.
    import requests
    from gorse import Gorse

    monkeypatch.delenv("TROIKA_RECOMMENDER_API_KEY", raising=False)
    plugin, client = start(tmp_path, db_url, embedder, fine_tune=False)
    assert plugin.state.retrain()["promoted"]
    base = live_server(client.application)
    gorse = Gorse(base + "/rec", KEY, timeout=30)
    for film in ("f25", "f26", "f28"):
        gorse.insert_feedback("star", "zed", film, "2026-05-01T10:00:00Z")
    answer = requests.get(f"{base}/rec/api/recommend/zed", params={"n": 5}, headers=V2, timeout=30)
    assert answer.status_code == 200 and answer.headers[SOURCE_HEADER] == "model"
    assert not {"f25", "f26", "f28"} & {r.id for r in gorse.get_recommend("zed", n=5)}  # starred films count as seen
    assert [f["FeedbackType"] for f in gorse.list_feedbacks("star", "zed")] == ["star"] * 3  # stored as sent
    plugin.state.shutdown()


def test_feedback_types_are_configurable_and_checked(tmp_path, db_url, embedder, monkeypatch):
    monkeypatch.delenv("TROIKA_RECOMMENDER_API_KEY", raising=False)
    plugin, client = start(tmp_path, db_url, embedder, ranking="content", positive_feedback_types=["click"])
    client.post("/rec/api/feedback", json=[{"FeedbackType": "star", "UserId": "zed", "ItemId": "f25"}], headers=V2)
    assert client.get("/rec/api/recommend/zed", headers=V2).headers[SOURCE_HEADER] == "popular"  # star is not positive here
    config = load_config(env={}, var_dir=tmp_path, testing=True, apps=["recommender"])
    for bad in ({"positive_feedback_types": "star"}, {"read_feedback_types": [1]},
                {"positive_feedback_types": ["click"], "read_feedback_types": ["click"]}):
        with pytest.raises(ConfigError, match="feedback_types"):
            make_plugin(config.replace(sections={"recommender": bad}))


def test_without_a_configured_key_one_is_generated_in_var_dir_and_announced(tmp_path, db_url, embedder, monkeypatch, caplog, capsys):
    # Issue 22: on defaults every API call was 403, and the demo page asked for a key nobody had.
    from shared.cli import main

    monkeypatch.delenv("TROIKA_RECOMMENDER_API_KEY", raising=False)
    config = load_config(env={}, var_dir=tmp_path, database_url=db_url, testing=True, apps=["recommender"], port=8765)
    config = config.replace(sections={"recommender": {"retrain_every": 0, "ranking": "content"}})
    with caplog.at_level("INFO", logger="recommender.plugin"):
        plugin = make_plugin(config, embedder=embedder)
        plugin.prepare()
    key_file = tmp_path / "recommender" / "api_key"
    key = key_file.read_text().strip()
    assert len(key) >= 32 and key_file.stat().st_mode & 0o077 == 0
    assert key in caplog.text and str(key_file) in caplog.text and "http://127.0.0.1:8765/rec/" in caplog.text
    client = build_app(config, [plugin]).test_client()
    assert client.get("/rec/api/popular", headers={"X-API-Key": key}).status_code == 200
    assert client.get("/rec/api/popular").status_code == 401
    assert client.get("/rec/api/popular", headers={"X-API-Key": "wrong"}).status_code == 401

    # A restart keeps the key and does not print it again; `troika config` says where it lives.
    caplog.clear()
    with caplog.at_level("INFO", logger="recommender.plugin"):
        again = make_plugin(config, embedder=embedder)
        again.prepare()
    assert key not in caplog.text and str(key_file) in caplog.text
    assert build_app(config, [again]).test_client().get("/rec/api/popular", headers={"X-API-Key": key}).status_code == 200
    (tmp_path / "troika.toml").write_text(f'var_dir = "{tmp_path}"\napps = ["recommender"]\n')
    assert main(["config", "--config", str(tmp_path / "troika.toml")]) == 0
    shown = capsys.readouterr().out
    assert f"api_key: generated on first start, kept in {key_file}" in shown and key not in shown
    assert 'positive_feedback_types = ["click", "star"' in shown and 'read_feedback_types = ["read", "view"]' in shown


def test_a_configured_key_wins_over_the_generated_one(tmp_path, db_url, embedder, monkeypatch):
    monkeypatch.delenv("TROIKA_RECOMMENDER_API_KEY", raising=False)
    _, client = start(tmp_path, db_url, embedder, ranking="content")  # api_key = KEY in [recommender]
    assert not (tmp_path / "recommender" / "api_key").exists()
    assert client.get("/rec/api/popular", headers={"X-API-Key": KEY}).status_code == 200
    (tmp_path / "recommender" / "api_key").write_text("an-old-generated-key-0123456789abcdef\n")
    _, configured = start(tmp_path, db_url, embedder, ranking="content")
    assert configured.get("/rec/api/popular", headers={"X-API-Key": "an-old-generated-key-0123456789abcdef"}).status_code == 401
    assert configured.get("/rec/api/popular", headers={"X-API-Key": KEY}).status_code == 200


def test_the_demo_page_lists_every_source_the_api_really_sets(served):
    # Issue 22: the page listed five sources and left out model and fallback, what a click model answers.
    from recommender.baselines import ContentRecommender, PopularRecommender
    from recommender.click_model import SOURCE_FALLBACK, SOURCE_MODEL
    from recommender.service import SOURCES

    set_somewhere = {SOURCE_MODEL, SOURCE_FALLBACK, ContentRecommender.source, PopularRecommender.source, "profile",
                     "similar-items", "search"}  # the last three: baselines' profile vector and the API's own routes
    assert set(SOURCES) == set_somewhere
    _, client = served
    page = client.get("/rec/").get_data(as_text=True)
    for name in SOURCES:
        assert f"<code>{name}</code>" in page, name
    assert client.get("/rec/api/item/f25/neighbors", headers=V2).headers[SOURCE_HEADER] == "similar-items"
    assert client.get("/rec/api/items", query_string={"q": "space"}, headers=V2).headers[SOURCE_HEADER] == "search"
