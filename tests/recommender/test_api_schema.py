"""schemathesis against the recommendation API's OpenAPI description: no 5xx, no response outside the schema."""

import schemathesis
from hypothesis import HealthCheck, given, settings

from recommender.records import Item
from tests.recommender.test_api import API_KEY, ITEMS, make_app


def test_every_route_keeps_to_its_description(tmp_path, embedder):
    app = make_app(tmp_path, f"sqlite:///{tmp_path}/rec.db", embedder)
    app.extensions["test.service"].put_items([Item(i, text, "", tuple(c)) for i, text, c in ITEMS])
    spec = app.test_client().get("/rec/api/openapi/openapi.json").json
    assert {"/rec/api/recommend/{user_id}", "/rec/api/item/{item_id}/neighbors", "/rec/api/session/recommend", "/rec/api/popular"} <= set(spec["paths"])
    schema = schemathesis.openapi.from_wsgi("/rec/api/openapi/openapi.json", app)
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
        def check(case):
            case.call_and_validate(headers={"X-API-Key": API_KEY})

        check()
