"""schemathesis against the chat API's own OpenAPI description: no 5xx, no response outside the schema."""

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.customer_service.test_web import AGENT, make_app


def test_every_route_keeps_to_its_description(tmp_path):
    app = make_app(tmp_path, f"sqlite:///{tmp_path}/chat.db", app_settings={"rate_limit": ""})
    schema = schemathesis.openapi.from_wsgi("/cs/api/openapi/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
        def check(case):
            # The agents' routes get the token, so their real behaviour is explored, not only the 401.
            case.call_and_validate(headers=AGENT if case.path.startswith("/cs/admin") else None)

        check()
