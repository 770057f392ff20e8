import json
import logging
import os
import stat

import pytest
from flask import Blueprint, abort, jsonify
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.exceptions import TooManyRequests

from shared.config import load_config
from shared.errors import ConfigError
from shared.web import add_readiness_check, create_app, field_error, json_body, query_args, require_admin

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
LIMIT = 1024


class Message(BaseModel):
    text: str = Field(min_length=1, max_length=20)
    tags: list[str] = Field(default_factory=list, max_length=3)


demo = Blueprint("demo", __name__)


@demo.post("/echo")
def echo():
    return jsonify(json_body())


@demo.post("/messages")
def messages():
    message = json_body(Message)
    if message.text == "forbidden":
        field_error("text", "this word is not allowed")
    return jsonify(text=message.text, tags=message.tags)


class Listing(BaseModel):
    model_config = ConfigDict(extra="forbid")  # an unknown parameter is a mistake worth a 400
    n: int = Field(default=10, ge=1, le=100)
    state: str = Field(default="open", pattern="^(open|closed)$")


@demo.get("/listing")
def listing():
    args = query_args(Listing, ignore=("refresh",))  # the page reads refresh itself
    return jsonify(n=args.n, state=args.state)


@demo.post("/admin/reload")
@require_admin
def reload():
    return jsonify(reloaded=True)


@demo.get("/page")
def page():
    return "<!doctype html><p>hello</p>"


@demo.get("/busy")
def busy():
    raise TooManyRequests("slow down", retry_after=7)


@demo.get("/boom")
def boom():
    raise RuntimeError("secret internals /srv/troika/app.py")


@demo.get("/gone")
def gone():
    abort(404, "no such item")


@pytest.fixture
def config(tmp_path):
    return load_config(env={}, var_dir=tmp_path, testing=True, admin_token=ADMIN_TOKEN, max_content_length=LIMIT)


@pytest.fixture
def app(config):
    app = create_app(config)
    app.register_blueprint(demo)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def assert_json_error(response, status, code):
    assert response.status_code == status
    assert response.mimetype == "application/json"
    assert response.json["error"]["code"] == code
    assert response.json["error"]["message"]
    return response.json["error"]


def test_health_live(client):
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json == {"status": "live"}


def test_health_ready_reports_each_check(app, client):
    add_readiness_check(app, "model", lambda: (True, "intent model v3"))
    assert client.get("/health/ready").json == {"status": "ready", "checks": {"model": {"ok": True, "detail": "intent model v3"}}}
    add_readiness_check(app, "index", lambda: (False, "FAQ index still building"))
    response = client.get("/health/ready")
    error = assert_json_error(response, 503, "not_ready")
    assert "index (FAQ index still building)" in error["message"]
    assert response.json["checks"]["model"]["ok"] is True


def test_a_crashing_readiness_check_means_not_ready(app, client, caplog):
    add_readiness_check(app, "db", lambda: 1 / 0)
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json["checks"]["db"] == {"ok": False, "detail": "check raised ZeroDivisionError"}
    assert "Traceback" not in response.get_data(as_text=True)
    assert "readiness check db failed" in caplog.text


def test_unknown_url_and_wrong_method_are_json(client):
    assert_json_error(client.get("/nowhere"), 404, "not_found")
    response = client.get("/echo")
    assert_json_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]
    assert client.get("/gone").json["error"]["message"] == "no such item"


def test_one_byte_over_the_limit_is_413(client):
    at_limit = b'{"a": "' + b"x" * (LIMIT - 9) + b'"}'
    assert len(at_limit) == LIMIT
    assert client.post("/echo", data=at_limit, content_type="application/json").status_code == 200
    over = b'{"a": "' + b"x" * (LIMIT - 8) + b'"}'
    assert_json_error(client.post("/echo", data=over, content_type="application/json"), 413, "request_entity_too_large")
    # Even a route that never reads its body refuses it.
    assert client.get("/page", data=b"x" * (LIMIT + 1)).status_code == 413


def test_json_body_wants_json(client):
    assert_json_error(client.post("/echo", data="text=hi", content_type="application/x-www-form-urlencoded"), 415, "unsupported_media_type")
    assert_json_error(client.post("/echo", data="{not json", content_type="application/json"), 400, "bad_request")
    assert_json_error(client.post("/echo", json=["a", "list"]), 400, "bad_request")
    assert_json_error(client.post("/echo", data='{"x": NaN}', content_type="application/json"), 400, "bad_request")
    assert client.post("/echo", json={"x": 1}).json == {"x": 1}


def test_deeply_nested_json_is_400_not_500(config):
    app = create_app(config.replace(max_content_length=1_000_000))
    app.register_blueprint(demo)
    deep = '{"a": ' * 50_000 + "1" + "}" * 50_000
    for path in ("/echo", "/messages"):
        assert_json_error(app.test_client().post(path, data=deep, content_type="application/json"), 400, "bad_request")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "text"),
        ({"text": 42}, "text"),
        ({"text": ""}, "text"),
        ({"text": "x" * 21}, "text"),
        ({"text": "ok", "tags": ["a", "b", "c", "d"]}, "tags"),
        ({"text": "ok", "tags": ["a", 7]}, "tags.1"),
        ({"text": "forbidden"}, "text"),
    ],
)
def test_bad_fields_are_400_naming_the_field(client, body, field):
    error = assert_json_error(client.post("/messages", json=body), 400, "bad_request")
    assert error["field"] == field
    assert error["message"].startswith(f"{field}: ")


def test_query_args_validate_the_query_string_and_name_the_parameter(client):
    assert client.get("/listing?n=5&refresh=30").json == {"n": 5, "state": "open"}
    for query, field in [("n=0", "n"), ("n=many", "n"), ("state=lost", "state"), ("colour=red", "colour")]:
        error = assert_json_error(client.get(f"/listing?{query}"), 400, "bad_request")
        assert error["field"] == field and error["message"].startswith(f"{field}: ")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def shared_client(tmp_path_factory):
    # Module-scoped: hypothesis runs many examples through one app.
    config = load_config(env={}, var_dir=tmp_path_factory.mktemp("web"), testing=True, max_content_length=LIMIT)
    app = create_app(config)
    app.register_blueprint(demo)
    return app.test_client()


@settings(max_examples=150, deadline=None)
@given(body=st.binary(max_size=300) | st.text(max_size=300).map(str.encode) | json_values.map(lambda v: json.dumps(v).encode()))
def test_no_body_makes_a_500(shared_client, body):
    for path in ("/echo", "/messages"):
        # 413: a generated body can exceed the size limit
        assert shared_client.post(path, data=body, content_type="application/json").status_code in (200, 400, 413)


def test_a_valid_body_reaches_the_view(client):
    assert client.post("/messages", json={"text": "héllo", "tags": ["a"]}).json == {"text": "héllo", "tags": ["a"]}


def test_429_keeps_retry_after(client):
    response = client.get("/busy")
    assert_json_error(response, 429, "too_many_requests")
    assert response.headers["Retry-After"] == "7"


def test_unexpected_errors_are_500_without_internals(client, caplog):
    response = client.get("/boom")
    error = assert_json_error(response, 500, "internal_server_error")
    assert "secret internals" not in response.get_data(as_text=True)
    assert "RuntimeError" not in error["message"]
    assert "secret internals" in caplog.text  # but the log has it


@pytest.mark.parametrize("path", ["/health/live", "/nowhere", "/page"])
def test_security_headers_on_every_response(client, path):
    headers = client.get(path).headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


def test_pages_get_a_csp_and_apis_get_no_store(client):
    page = client.get("/page")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "no-store" not in page.headers.get("Cache-Control", "")
    api = client.get("/health/live")
    assert api.headers["Cache-Control"] == "no-store"
    assert api.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_a_view_can_set_its_own_framing_policy(app, client):
    @app.get("/widget")
    def widget():
        return "<p>chat</p>", {"Content-Security-Policy": "frame-ancestors https://shop.example"}

    assert client.get("/widget").headers["Content-Security-Policy"] == "frame-ancestors https://shop.example"


def test_admin_routes_need_the_token(client):
    response = client.post("/admin/reload")
    assert_json_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].lower().startswith("bearer")
    assert_json_error(client.post("/admin/reload", headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
    assert_json_error(client.post("/admin/reload", headers={"X-Admin-Token": ADMIN_TOKEN[:-1]}), 401, "unauthorized")
    assert_json_error(client.post("/admin/reload", headers={"Authorization": f"Basic {ADMIN_TOKEN}"}), 401, "unauthorized")
    assert client.post("/admin/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json == {"reloaded": True}
    assert client.post("/admin/reload", headers={"X-Admin-Token": ADMIN_TOKEN}).status_code == 200


def test_admin_routes_are_closed_without_a_configured_token(config):
    app = create_app(config.replace(admin_token=""))
    app.register_blueprint(demo)
    client = app.test_client()
    for headers in ({}, {"Authorization": "Bearer "}, {"X-Admin-Token": ""}, {"Authorization": "Bearer anything"}):
        assert_json_error(client.post("/admin/reload", headers=headers), 403, "forbidden")


def test_tokens_never_reach_the_log(client, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "guess-" + ADMIN_TOKEN
    client.post("/admin/reload", headers={"Authorization": f"Bearer {wrong}"})
    client.post("/admin/reload", headers={"X-Admin-Token": ADMIN_TOKEN})
    assert "refused POST /admin/reload from 127.0.0.1: wrong admin token" in caplog.text
    assert wrong not in caplog.text and ADMIN_TOKEN not in caplog.text


def test_non_ascii_tokens_are_refused_not_crashed(client):
    response = client.post("/admin/reload", headers={"X-Admin-Token": "tökén".encode().decode("latin-1")})
    assert response.status_code == 401


@pytest.mark.parametrize("key", ["dev", "changeme", "CHANGEME", "short-key"])
def test_a_guessable_secret_key_is_refused_outside_testing(config, key):
    with pytest.raises(ConfigError, match="secret_key"):
        create_app(config.replace(testing=False, secret_key=key))
    assert create_app(config.replace(secret_key=key)).secret_key == key  # tests may use one


def test_a_missing_secret_key_is_generated_once_and_kept_private(config):
    production = config.replace(testing=False)
    first = create_app(production).secret_key
    path = production.var_dir / "secret_key"
    assert len(first) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert create_app(production).secret_key == first
    assert [p.name for p in production.var_dir.iterdir()] == ["secret_key"]  # no temporary files left


def test_tests_without_a_secret_key_write_nothing(config):
    assert create_app(config).secret_key
    assert not (config.var_dir / "secret_key").exists()


def test_rate_limit_answers_429_with_retry_after_per_client(config):
    from shared.web import create_app, rate_limit

    app = create_app(config)

    @app.get("/limited")
    def limited():
        rate_limit("limited", "3/minute")
        return jsonify(ok=True)

    client = app.test_client()
    assert [client.get("/limited").status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = client.get("/limited")
    assert refused.json["error"]["code"] == "too_many_requests"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    other = client.get("/limited", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200  # another client has its own budget


def test_a_malformed_rate_limit_is_a_config_error(config):
    from shared.errors import ConfigError
    from shared.web import create_app, rate_limit

    app = create_app(config)
    with app.test_request_context("/"), pytest.raises(ConfigError, match="not like"):
        rate_limit("x", "lots")


def test_the_moving_window_forgets_old_requests_and_quiet_clients():
    from shared.web import _RateLimits

    now = [0.0]
    limits = _RateLimits(clock=lambda: now[0])
    assert [limits.hit("2/minute", "chat", "a") for _ in range(2)] == [None, None]
    item, wait = limits.hit("2/minute", "chat", "a")
    assert str(item) == "2 per 1 minute" and wait == 60.0
    assert limits.hit("2/minute", "chat", "b") is None  # another client has its own window
    now[0] = 30.0
    assert limits.hit("2/minute", "chat", "a")[1] == 30.0  # refusals do not count, so the wait shrinks
    now[0] = 60.5
    assert limits.hit("2/minute", "chat", "a") is None
    now[0] = 200.0
    limits.hit("2/minute", "chat", "c")  # a sweep drops the clients that went quiet
    assert {client for _, client, _ in limits._hits} == {"c"}
