import errno
import sys
import types

import pytest
from flask import Blueprint, jsonify

from shared import server
from shared.config import load_config
from shared.errors import ConfigError
from shared.server import Plugin, build_app, load_plugins, serve
from shared.web import require_admin

ADMIN_TOKEN = "admin-token-for-tests-0123456789"


def make_fake_plugin(config, *, ready=(True, "loaded"), name="fakeapp", prefix="/fake", description="A fake app for tests."):
    """What an app's plugin.py would return: a blueprint plus hooks."""
    bp = Blueprint(name, __name__)

    @bp.get("/")
    def home():
        return "<!doctype html><h1>fake home</h1>"

    @bp.get("/ping")
    def ping():
        return jsonify(pong=True)

    @bp.post("/admin/retrain")
    @require_admin
    def retrain():
        return jsonify(retrained=True)

    prepared = []
    plugin = Plugin(
        name=name,
        title="Fake app",
        description=description,
        blueprint=bp,
        url_prefix=prefix,
        prepare=lambda: prepared.append(name),
        ready=lambda: ready,
    )
    return plugin, prepared


@pytest.fixture
def config(tmp_path):
    return load_config(env={}, var_dir=tmp_path, testing=True, admin_token=ADMIN_TOKEN, apps=["fakeapp", "notyet"])


@pytest.fixture
def plugin(config):
    return make_fake_plugin(config)[0]


@pytest.fixture
def app(config, plugin):
    return build_app(config, [plugin])


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def installed(monkeypatch, config):
    """Install ``fakeapp`` with a plugin module, as if it were a real app package."""
    package = types.ModuleType("fakeapp")
    package.__path__ = []
    module = types.ModuleType("fakeapp.plugin")
    calls = []

    def make_plugin(config):
        plugin, prepared = make_fake_plugin(config)
        calls.append(prepared)
        return plugin

    module.make_plugin = make_plugin
    monkeypatch.setitem(sys.modules, "fakeapp", package)
    monkeypatch.setitem(sys.modules, "fakeapp.plugin", module)
    return calls


def test_landing_page_lists_apps_and_says_which_are_missing(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert '<a href="/fake/">Fake app</a>' in page
    assert "A fake app for tests." in page
    assert "Not installed yet: notyet" in page
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_landing_page_escapes_what_apps_say(config):
    plugin, _ = make_fake_plugin(config, description='<script>alert("x")</script>', ready=(False, "<b>loading</b>"))
    page = build_app(config, [plugin]).test_client().get("/").get_data(as_text=True)
    assert "<script>" not in page and "<b>" not in page
    assert "&lt;script&gt;" in page and "not ready: &lt;b&gt;loading&lt;/b&gt;" in page


def test_landing_page_stylesheet_is_served_locally(client):
    page = client.get("/").get_data(as_text=True)
    assert "http://" not in page and "https://" not in page
    response = client.get("/static/troika.css")
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_favicon_is_served_and_the_landing_page_links_it(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert response.get_data(as_text=True).startswith("<svg ")
    assert 'rel="icon" href="/static/favicon.svg"' in client.get("/").get_data(as_text=True)


def test_a_plugin_is_served_under_its_prefix_with_the_shared_edge(client):
    assert client.get("/fake/").status_code == 200
    response = client.get("/fake/ping")
    assert response.json == {"pong": True}
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/fake/nothing").json["error"]["code"] == "not_found"
    assert client.post("/fake/ping").json["error"]["code"] == "method_not_allowed"
    assert client.post("/fake/ping", data=b"x" * 70_000).status_code == 413


def test_health(config):
    plugin, _ = make_fake_plugin(config, ready=(False, "model still training"))
    client = build_app(config, [plugin]).test_client()
    assert client.get("/health/live").status_code == 200
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert "fakeapp (model still training)" in response.json["error"]["message"]

    ready, _ = make_fake_plugin(config)
    assert build_app(config, [ready]).test_client().get("/health/ready").status_code == 200


def test_admin_routes_of_a_plugin(config, client):
    assert client.post("/fake/admin/retrain").status_code == 401
    assert client.post("/fake/admin/retrain", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.post("/fake/admin/retrain", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json == {"retrained": True}
    closed = config.replace(admin_token="")
    plugin, _ = make_fake_plugin(closed)
    closed_client = build_app(closed, [plugin]).test_client()
    assert closed_client.post("/fake/admin/retrain", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).status_code == 403


def test_plugins_are_found_by_package_name(config, installed):
    plugins = load_plugins(config)
    assert [p.name for p in plugins] == ["fakeapp"]  # notyet does not exist: skipped
    page = build_app(config).test_client().get("/").get_data(as_text=True)
    assert "Fake app" in page and "Not installed yet: notyet" in page


def test_apps_without_a_plugin_module_are_skipped(config, monkeypatch):
    package = types.ModuleType("plainapp")
    package.__path__ = []  # a package with no plugin.py
    monkeypatch.setitem(sys.modules, "plainapp", package)
    assert load_plugins(config.replace(apps=["no_such_app", "plainapp"])) == []


def test_a_plugin_with_a_broken_import_is_not_hidden(config, monkeypatch):
    module = types.ModuleType("fakeapp.plugin")

    def make_plugin(config):
        return "not a plugin"

    module.make_plugin = make_plugin
    monkeypatch.setitem(sys.modules, "fakeapp", types.ModuleType("fakeapp"))
    monkeypatch.setitem(sys.modules, "fakeapp.plugin", module)
    with pytest.raises(ConfigError, match="returned str, not a shared.server.Plugin"):
        load_plugins(config)

    def broken_import(config):
        import a_dependency_that_is_not_installed  # noqa: F401 - the import itself is what must fail

    module.make_plugin = broken_import
    with pytest.raises(ModuleNotFoundError, match="a_dependency_that_is_not_installed"):
        load_plugins(config)


@pytest.mark.parametrize("prefix", ["", "/", "fake", "/health", "/static/"])
def test_a_plugin_needs_its_own_prefix(config, prefix):
    with pytest.raises(ConfigError, match="url_prefix"):
        make_fake_plugin(config, prefix=prefix)


def test_two_plugins_cannot_share_a_prefix(config):
    one, _ = make_fake_plugin(config, name="one", prefix="/same")
    two, _ = make_fake_plugin(config, name="two", prefix="/same/")
    with pytest.raises(ConfigError, match="share a url_prefix"):
        build_app(config, [one, two])


def test_serve_prepares_prints_urls_and_runs_waitress(config, installed, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(server.waitress, "serve", lambda app, **kw: calls.append((app, kw)))
    serve(config.replace(host="0.0.0.0", port=8123, threads=6))
    assert installed[0] == ["fakeapp"]  # prepare() ran before serving
    (app, options), = calls
    assert options == {"host": "0.0.0.0", "port": 8123, "threads": 6, "ident": "troika"}
    assert app.test_client().get("/fake/ping").json == {"pong": True}
    out = capsys.readouterr().out
    for url in ("http://127.0.0.1:8123/", "http://127.0.0.1:8123/fake/", "http://127.0.0.1:8123/health/ready"):
        assert url in out
    assert "not installed yet: notyet" in out


def test_serve_on_a_busy_port_is_a_clear_error(config, monkeypatch):
    def busy(app, **kw):
        raise OSError(errno.EADDRINUSE, "Address already in use")

    monkeypatch.setattr(server.waitress, "serve", busy)
    with pytest.raises(ConfigError, match="port 8000 on 127.0.0.1 is already in use"):
        serve(config.replace(apps=[]))
