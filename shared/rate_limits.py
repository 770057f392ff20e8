"""Per-client rate limits for the apps' routes: ``rate_limit(name, "20/second;300/minute")`` in a view
or ``before_request`` answers 429 with Retry-After once a client goes over (``shared.web`` re-exports it).

``create_app`` keeps one ``RateLimits`` in ``app.extensions["troika.rate_limits"]``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from flask import current_app, request
from werkzeug.exceptions import TooManyRequests

from .errors import ConfigError


def parse_rate_limit(spec: str, setting: str = "rate limit") -> list:
    """The `limits` items of ``spec`` ("20/second;300/minute"); a ConfigError naming ``setting`` when malformed
    (an app checks its setting at start with this, so a typo does not turn every request into a 500)."""
    from limits import parse_many

    try:
        return parse_many(spec)
    except ValueError:
        raise ConfigError(f"{setting} {spec!r} is not like '20/second;300/minute' (\"\" for no limit)") from None


class RateLimits:
    """Per-app moving-window counters in memory (per server process).

    `limits` parses the notation; the counting is done here because its MemoryStorage starts
    a timer thread whenever the last one has ended (after 10 ms without requests): 0.2-3.7 ms
    per request on 2 cores, most of a chat answer's budget.
    """

    SWEEP_EVERY = 60.0  # seconds between drops of clients that went quiet

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._parsed: dict[str, list] = {}
        self._hits: dict[tuple[str, str, str], tuple[float, deque]] = {}  # (name, client, limit) -> (window s, times)
        self._lock = threading.Lock()
        self._swept_at = clock()

    def items(self, spec: str) -> list:
        if spec not in self._parsed:
            self._parsed[spec] = parse_rate_limit(spec)
        return self._parsed[spec]

    def hit(self, spec: str, name: str, client: str) -> tuple[object, float] | None:
        """Count one request; None when every limit allows it, else (the limit, seconds until it would)."""
        items = self.items(spec)
        now = self.clock()
        with self._lock:
            if now - self._swept_at > self.SWEEP_EVERY:
                self._sweep(now)
            windows = []
            for item in items:
                window, times = self._hits.setdefault((name, client, str(item)), (float(item.get_expiry()), deque()))
                while times and times[0] <= now - window:
                    times.popleft()
                if len(times) >= item.amount:
                    return item, times[0] + window - now  # a refused request counts against no limit
                windows.append(times)
            for times in windows:
                times.append(now)
        return None

    def _sweep(self, now: float) -> None:
        self._swept_at = now
        for key, (window, times) in list(self._hits.items()):
            if not times or times[-1] <= now - window:
                del self._hits[key]


def rate_limit(name: str, spec: str) -> None:
    """Refuse this request with 429 and Retry-After when its client went over ``spec`` for ``name``.

    ``spec`` is `limits` notation ("20/second;300/minute"); empty means no limit. Clients
    are told apart by remote address (behind a proxy, have it set X-Forwarded-For and wrap
    the app in werkzeug's ProxyFix).
    """
    if not spec:
        return
    refused = current_app.extensions["troika.rate_limits"].hit(spec, name, request.remote_addr or "unknown")
    if refused is not None:
        item, seconds = refused
        wait = max(1, int(seconds + 0.999))
        raise TooManyRequests(f"too many requests to {name}: at most {item}; retry in {wait} s", retry_after=wait)
