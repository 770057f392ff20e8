"""Module-level views for blueprints made per app: route groups, the app's state, stable OpenAPI names."""

import pytest
from flask import Blueprint, jsonify
from pydantic import BaseModel, create_model

from shared.config import load_config
from shared.openapi import api_spec, keep_component_names
from shared.route_groups import RouteGroup, documented_as
from shared.web import create_app, json_body, serve, served

KEY = "troika.greeter"
TOKEN = {"greeter_token": []}


class Greeting(BaseModel):
    text: str


routes = RouteGroup("greetings", security=TOKEN)


@routes.get("/hello")
@routes.get("/hello/<name>")
@documented_as(response=Greeting, errors=(404,))
def hello(name="you"):
    state = served(KEY)
    return jsonify(text=f"{state.service} {name}{state.settings.get('punctuation', '')}")


@routes.post("/echo")
@documented_as(body=Greeting, response=Greeting, errors=(400,), tags=["echo"], security={})
def echo():
    return jsonify(text=json_body(Greeting).text)


@routes.get("/about")
def about():
    return "an undocumented page"


def make_app(tmp_path, service, settings):
    bp = Blueprint("greeter", __name__)
    spec = api_spec("greeter", path="greeter/openapi")
    serve(bp, KEY, service, settings)
    routes.register(bp, spec)
    app = create_app(load_config(env={}, var_dir=tmp_path, testing=True))
    app.register_blueprint(bp, url_prefix="/g")
    spec.register(app)
    return app


@pytest.fixture
def spec(tmp_path):
    return make_app(tmp_path, "hello", {}).test_client().get("/greeter/openapi/openapi.json").json


def test_each_app_serves_its_own_service_and_settings_to_the_same_views(tmp_path):
    english = make_app(tmp_path, "hello", {"punctuation": "!"}).test_client()
    french = make_app(tmp_path, "bonjour", {}).test_client()
    assert english.get("/g/hello/ann").json == {"text": "hello ann!"}
    assert french.get("/g/hello/ann").json == {"text": "bonjour ann"}
    assert english.get("/g/hello").json == {"text": "hello you!"}


def test_stacked_routes_are_one_endpoint_documented_under_each_rule(tmp_path, spec):
    app = make_app(tmp_path, "hello", {})
    endpoints = {rule.rule: rule.endpoint for rule in app.url_map.iter_rules() if rule.rule.startswith("/g/")}
    assert endpoints == {"/g/hello": "greeter.hello", "/g/hello/<name>": "greeter.hello", "/g/echo": "greeter.echo",
                         "/g/about": "greeter.about"}
    assert set(spec["paths"]) == {"/g/hello", "/g/hello/{name}", "/g/echo"}  # the undocumented page is left out


def test_documented_routes_take_the_groups_tag_and_security_unless_they_name_their_own(spec):
    hello = spec["paths"]["/g/hello/{name}"]["get"]
    assert (hello["tags"], hello["security"]) == (["greetings"], [TOKEN])
    assert {"200", "404"} <= set(hello["responses"])  # spectree adds its validation status (400) beside them
    echo = spec["paths"]["/g/echo"]["post"]
    assert echo["tags"] == ["echo"] and not echo.get("security")


def test_models_of_a_split_module_keep_the_module_name_spectree_hashes_into_component_names():
    moved = create_model("Body", text=(str, ...), __module__="api.schemas")
    imported = create_model("Record", id=(int, ...), __module__="domain")
    namespace = {"__name__": "api.schemas", "Body": moved, "Record": imported, "LIMIT": 10}
    keep_component_names(namespace, "api")
    assert (moved.__module__, imported.__module__) == ("api", "domain")
