"""Webhook delivery against a real HTTP server on loopback that answers from a script."""

import time

from shared.webhooks import deliver, post_json


def test_a_json_payload_arrives_on_the_first_try(webhook_receiver):
    receiver = webhook_receiver((204, {}))
    attempts = []
    assert deliver(receiver.url, {"text": "handoff #12", "ünïcode": "✓"}, record=attempts.append)
    assert receiver.received == [("application/json", {"text": "handoff #12", "ünïcode": "✓"})]
    assert [(a.attempt, a.ok, a.status_code) for a in attempts] == [(1, True, 204)]


def test_server_errors_are_retried_with_backoff_and_every_attempt_recorded(webhook_receiver):
    receiver = webhook_receiver((503, {}), (500, {}), (200, {}))
    attempts, waits = [], []
    assert deliver(receiver.url, {"n": 1}, record=attempts.append, attempts=3, backoff=0.5, sleep=waits.append)
    assert [(a.ok, a.status_code) for a in attempts] == [(False, 503), (False, 500), (True, 200)]
    assert len(receiver.received) == 3
    assert 0.25 <= waits[0] <= 0.75 and 0.5 <= waits[1] <= 1.5  # doubling, with jitter


def test_retry_after_is_honoured(webhook_receiver):
    receiver = webhook_receiver((429, {"Retry-After": "3"}), (200, {}))
    waits = []
    assert deliver(receiver.url, {}, record=lambda a: None, sleep=waits.append)
    assert waits == [3.0]


def test_a_client_error_is_not_retried(webhook_receiver):
    receiver = webhook_receiver((400, {}))
    attempts = []
    assert not deliver(receiver.url, {}, record=attempts.append, attempts=5, sleep=lambda s: None)
    assert len(attempts) == 1 and attempts[0].status_code == 400 and "HTTP 400" in attempts[0].error


def test_giving_up_after_the_last_attempt(webhook_receiver):
    receiver = webhook_receiver((500, {}), (500, {}))
    attempts = []
    assert not deliver(receiver.url, {}, record=attempts.append, attempts=2, sleep=lambda s: None)
    assert [a.ok for a in attempts] == [False, False]


def test_a_refused_connection_or_a_slow_server_is_a_recorded_failure_not_an_exception(webhook_receiver):
    refused = post_json("http://127.0.0.1:1/hook", {}, timeout=2)
    assert not refused.ok and refused.retryable and refused.status_code is None and refused.error
    slow = webhook_receiver(("hang", {}))
    started = time.monotonic()
    result = post_json(slow.url, {}, timeout=0.5)
    assert not result.ok and "Timeout" in result.error and time.monotonic() - started < 1.5


def test_only_http_urls_are_posted_to():
    result = post_json("file:///etc/passwd", {})
    assert not result.ok and not result.retryable and "not an http(s) URL" in result.error
