"""Send JSON to someone else's HTTP endpoint, retrying with backoff, reporting every attempt.

The support bot notifies people of a handoff this way and the finance monitor pushes
alerts (Alertmanager, generic and Slack-compatible webhooks). Each app records the
attempts in its own table through ``record``, so no delivery is ever silent::

    delivered = deliver("https://hooks.example/troika", {"text": "handoff #12"},
                        record=lambda a: chats.record_delivery(12, url, a.attempt, a.ok,
                                                               status_code=a.status_code, error=a.error))
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import urllib3

from .storage import redact_url

log = logging.getLogger(__name__)

USER_AGENT = "troika-webhook/1"
MAX_RETRY_AFTER = 60.0  # seconds we honour from a Retry-After header; longer waits are the next run's job


@dataclass(frozen=True)
class Attempt:
    attempt: int
    ok: bool
    status_code: int | None = None
    error: str | None = None
    retryable: bool = False
    retry_after: float | None = None


_pool = urllib3.PoolManager(retries=False, headers={"User-Agent": USER_AGENT})


def post_json(url: str, payload, *, timeout: float = 5.0, headers: Mapping[str, str] | None = None, attempt: int = 1) -> Attempt:
    """One POST of ``payload`` as JSON; any 2xx is success. Never raises for network trouble."""
    if not url.startswith(("http://", "https://")):
        return Attempt(attempt, False, error=f"{redact_url(url)!r} is not an http(s) URL")
    body = json.dumps(payload, ensure_ascii=False, default=str).encode()
    try:
        response = _pool.request("POST", url, body=body, headers={"Content-Type": "application/json", **(headers or {})},
                                 timeout=urllib3.Timeout(total=timeout), redirect=False, preload_content=True)
    except urllib3.exceptions.HTTPError as exc:
        return Attempt(attempt, False, error=f"{type(exc).__name__}: {exc}"[:500], retryable=True)
    status = response.status
    if 200 <= status < 300:
        return Attempt(attempt, True, status_code=status)
    retry_after = _retry_after(response.headers.get("Retry-After"))
    snippet = response.data[:200].decode("utf-8", "replace").strip()
    # 408/429 and 5xx may pass on a later try; any other 4xx is our request's fault and will not.
    retryable = status in (408, 429) or status >= 500
    return Attempt(attempt, False, status_code=status, error=f"HTTP {status}: {snippet}"[:500], retryable=retryable,
                   retry_after=retry_after)


def _retry_after(value: str | None) -> float | None:
    try:
        return min(float(value), MAX_RETRY_AFTER) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def deliver(url: str, payload, *, record: Callable[[Attempt], None], attempts: int = 3, backoff: float = 1.0,
            timeout: float = 5.0, headers: Mapping[str, str] | None = None, sleep: Callable[[float], None] = time.sleep) -> bool:
    """POST until a 2xx, a non-retryable answer, or ``attempts`` tries; ``record`` sees each try. True when delivered."""
    for number in range(1, attempts + 1):
        result = post_json(url, payload, timeout=timeout, headers=headers, attempt=number)
        record(result)
        if result.ok:
            return True
        log.warning("webhook %s attempt %d/%d failed: %s", redact_url(url), number, attempts, result.error)
        if not result.retryable or number == attempts:
            return False
        # Exponential backoff with jitter, so many senders retrying at once do not hit together.
        sleep(result.retry_after if result.retry_after is not None else backoff * 2 ** (number - 1) * random.uniform(0.5, 1.5))
    return False
