"""schemathesis against the monitor's own OpenAPI description: no 5xx, no response outside the schema."""

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.finance_monitor.test_web import ADMIN, FakeScheduler, make_app, seed


def test_every_route_keeps_to_its_description(tmp_path):
    app = make_app(tmp_path, f"sqlite:///{tmp_path}/finance.db", scheduler=FakeScheduler())
    seed(app.extensions["test.monitor"].store)
    schema = schemathesis.openapi.from_wsgi("/finance/api/openapi/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(o.method.upper(), o.path) for o in operations} == {
        ("GET", "/finance/api/topics"), ("GET", "/finance/api/topics/{name}/trend"), ("GET", "/finance/api/articles"),
        ("GET", "/finance/api/alerts"), ("POST", "/finance/api/alerts/{alert_id}/ack"),
        ("POST", "/finance/api/alerts/{alert_id}/silence"), ("GET", "/finance/api/jobs"), ("POST", "/finance/api/jobs/{job_id}/run"),
        ("POST", "/finance/api/articles/{article_id}/sentiment"),
    }
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
        def check(case):
            # Admin routes get the token, so their real behaviour is explored, not only the 401.
            case.call_and_validate(headers=ADMIN if case.method == "POST" else None)

        check()
