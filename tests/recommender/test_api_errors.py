"""The recommendation API's edge: a per-client rate limit, and bad requests answered 413/415/405 in JSON, never 500."""

import json

import pytest

from recommender.api import DEFAULT_RATE_LIMIT
from recommender.plugin import make_plugin, plugin_settings
from shared.config import load_config
from shared.errors import ConfigError
from tests.recommender.test_plugin import KEY, start

HEADERS = {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def var(tmp_path_factory):
    return tmp_path_factory.mktemp("var")  # the demo's item vectors are embedded by the first start only


@pytest.fixture
def client(var, db_url, embedder, monkeypatch):
    monkeypatch.delenv("TROIKA_RECOMMENDER_API_KEY", raising=False)
    return start(var, db_url, embedder)[1]


def assert_json_error(response, status: int, code: str):
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/json" and response.json["error"]["code"] == code


def test_a_client_over_the_rate_limit_gets_429_with_retry_after(var, db_url, embedder, monkeypatch):
    monkeypatch.delenv("TROIKA_RECOMMENDER_API_KEY", raising=False)
    _, client = start(var, db_url, embedder, rate_limit="2/second")
    assert [client.get("/rec/api/user/cai", headers=HEADERS).status_code for _ in range(2)] == [200, 200]
    refused = client.get("/rec/api/recommend/cai", headers=HEADERS)  # one budget for every API route
    assert_json_error(refused, 429, "too_many_requests")
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    # Probes and the schema are not counted, nor refused.
    for path in ["/rec/api/health/live", "/rec/api/health/ready", "/rec/api/openapi/openapi.json"] * 3:
        assert client.get(path).status_code == 200, path
    other = client.get("/rec/api/user/cai", headers=HEADERS, environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert other.status_code == 200  # each client has its own budget
    documented = client.get("/rec/api/openapi/openapi.json").json["paths"]["/rec/api/feedback"]["post"]["responses"]
    assert "429" in documented


def test_the_default_limit_is_generous_and_a_bad_one_stops_the_server_before_it_starts(tmp_path):
    config = load_config(env={}, var_dir=tmp_path, testing=True, apps=["recommender"])
    assert plugin_settings(config)["rate_limit"] == DEFAULT_RATE_LIMIT == "200/second"
    assert plugin_settings(config.replace(sections={"recommender": {"rate_limit": ""}}))["rate_limit"] == ""  # no limit
    for bad in ["lots", 200]:
        with pytest.raises(ConfigError, match="recommender.rate_limit"):
            make_plugin(config.replace(sections={"recommender": {"rate_limit": bad}}))


def test_a_body_one_byte_over_the_size_limit_is_413(client):
    limit = client.application.config["MAX_CONTENT_LENGTH"]
    at_limit = b"[" + b" " * (limit - 2) + b"]"  # an empty feedback list, padded to the limit exactly
    accepted = client.post("/rec/api/feedback", data=at_limit, content_type="application/json", headers=HEADERS)
    assert accepted.status_code == 200 and accepted.json == {"RowAffected": 0}
    over = client.post("/rec/api/feedback", data=at_limit + b" ", content_type="application/json", headers=HEADERS)
    assert_json_error(over, 413, "request_entity_too_large")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_body_that_is_not_json_is_415(client, content_type):
    body = json.dumps([{"FeedbackType": "click", "UserId": "cai", "ItemId": "f01"}])
    response = client.post("/rec/api/feedback", data=body, content_type=content_type, headers=HEADERS)
    assert_json_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("method, path", [("PATCH", "/rec/api/feedback"), ("DELETE", "/rec/api/recommend/cai"),
                                          ("PUT", "/rec/api/score"), ("POST", "/rec/api/popular")])
def test_a_wrong_method_is_405_naming_the_allowed_ones(client, method, path):
    response = client.open(path, method=method, json={}, headers=HEADERS)
    assert_json_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"]


def test_a_list_route_given_an_object_says_it_wants_a_list(client):
    # Issue 22: POST /api/items with an object said "the body must be a JSON object".
    for path in ("/rec/api/items", "/rec/api/users", "/rec/api/feedback"):
        wrong = client.post(path, json={"ItemId": "f99", "Comment": "one item, not a list"}, headers=HEADERS)
        assert_json_error(wrong, 400, "bad_request")
        assert wrong.json["error"]["message"] == "the body must be a JSON array (a list)", path
    single = client.post("/rec/api/item", json=[{"ItemId": "f99"}], headers=HEADERS)  # and the other way round
    assert_json_error(single, 400, "bad_request")
    assert single.json["error"]["message"] == "the body must be a JSON object"
