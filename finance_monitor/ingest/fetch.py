"""Fetch a feed or page over HTTP with every limit explicit.

A scraper job must survive whatever a server does: hang, dribble bytes, send a gigabyte,
redirect forever, answer 500. :func:`fetch` bounds each of those and turns them into a
:class:`FetchError` with a ``kind`` the job can record, never an unhandled exception::

    try:
        result = fetch(url, etag=previous.etag, last_modified=previous.last_modified)
    except FetchError as exc:
        record(exc.kind, str(exc))
    else:
        if not result.not_modified:
            parse_feed(result.body, ...)

Built on urllib3 (already required by trafilatura); redirects are followed by hand so
that each hop is counted and re-checked for its scheme.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import ProtocolError, ReadTimeoutError

from shared.errors import TroikaError

USER_AGENT = "troika-finance-monitor/0.1 (+https://github.com/troika-nlp; news sentiment monitor)"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024


@dataclass(frozen=True)
class FetchLimits:
    """How long and how much one fetch may take. Defaults suit news feeds and article pages."""

    connect_timeout: float = 5.0
    read_timeout: float = 10.0  # longest silence between two reads
    deadline: float = 30.0  # whole fetch, redirects included: a server dribbling bytes still ends
    max_bytes: int = 5 * 1024 * 1024  # after decompression, so a gzip bomb is capped too
    max_redirects: int = 5
    user_agent: str = USER_AGENT

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "deadline"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.max_bytes < 1 or self.max_redirects < 0:
            raise ValueError("max_bytes must be at least 1 and max_redirects not negative")


@dataclass(frozen=True)
class FetchResult:
    url: str  # final URL, after redirects
    status: int
    body: bytes
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    redirects: int = 0
    elapsed: float = 0.0

    @property
    def not_modified(self) -> bool:
        """The server said our copy (ETag / Last-Modified) is current: nothing new to parse."""
        return self.status == 304


class FetchError(TroikaError):
    """A fetch that gave nothing usable. ``kind`` is one of :data:`FetchError.KINDS`."""

    KINDS = ("bad_url", "timeout", "too_large", "too_many_redirects", "http_status", "connection")

    def __init__(self, kind: str, url: str, message: str, status: int | None = None):
        if kind not in self.KINDS:
            raise ValueError(f"unknown fetch error kind {kind!r}")
        super().__init__(f"{url}: {message}")
        self.kind, self.url, self.status = kind, url, status


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise FetchError("bad_url", url, f"not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError("bad_url", url, "only absolute http:// and https:// URLs can be fetched")


_POOL: urllib3.PoolManager | None = None


def _pool() -> urllib3.PoolManager:
    # One pool per process reuses connections across jobs; it is thread-safe.
    global _POOL
    if _POOL is None:
        _POOL = urllib3.PoolManager(num_pools=20, maxsize=4)
    return _POOL


def fetch(
    url: str,
    limits: FetchLimits = FetchLimits(),
    etag: str | None = None,
    last_modified: str | None = None,
    pool: urllib3.PoolManager | None = None,
) -> FetchResult:
    """GET ``url`` within ``limits``; a 304 answer comes back as ``not_modified``.

    Raises :class:`FetchError` for every failure (including non-2xx answers), so callers
    need exactly one ``except``.
    """
    pool = pool or _pool()
    started = time.monotonic()
    headers = {"User-Agent": limits.user_agent, "Accept-Encoding": "gzip, deflate", "Accept": "*/*"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    current = url
    for redirects in range(limits.max_redirects + 1):
        _check_url(current)
        response = _open(pool, current, headers, limits, started)
        complete = False
        try:
            if response.status in REDIRECT_STATUSES:
                location = response.headers.get("Location")
                if not location:
                    raise FetchError("http_status", current, f"HTTP {response.status} redirect without a Location header", response.status)
                current = urljoin(current, location)
                continue
            if response.status == 304:
                body = b""
                complete = True
            elif 200 <= response.status < 300:
                body = _read_capped(response, current, limits, started)
                complete = True
            else:
                raise FetchError("http_status", current, f"HTTP {response.status} {response.reason or ''}".rstrip(), response.status)
            return FetchResult(
                url=current,
                status=response.status,
                body=body,
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
                content_type=response.headers.get("Content-Type"),
                redirects=redirects,
                elapsed=time.monotonic() - started,
            )
        finally:
            # Drop the connection rather than drain an unread (maybe huge) body to reuse it.
            if complete:
                response.release_conn()
            else:
                response.close()
    raise FetchError("too_many_redirects", url, f"more than {limits.max_redirects} redirects (last: {current})")


def _remaining(limits: FetchLimits, started: float, url: str) -> float:
    left = limits.deadline - (time.monotonic() - started)
    if left <= 0:
        raise FetchError("timeout", url, f"no complete answer within {limits.deadline:g} s")
    return left


def _open(pool, url, headers, limits, started):
    left = _remaining(limits, started, url)
    timeout = urllib3.Timeout(connect=min(limits.connect_timeout, left), read=min(limits.read_timeout, left))
    try:
        return pool.request("GET", url, headers=headers, timeout=timeout, retries=False, redirect=False, preload_content=False)
    except urllib3.exceptions.MaxRetryError as exc:  # retries=False still wraps some errors
        raise _network_error(url, exc.reason or exc, limits) from None
    except Urllib3Error as exc:
        raise _network_error(url, exc, limits) from None
    except (OSError, ValueError) as exc:
        raise FetchError("connection", url, f"request failed ({type(exc).__name__}: {exc})") from None


def _network_error(url: str, exc: BaseException, limits: FetchLimits) -> FetchError:
    # Checked first: urllib3 makes NewConnectionError (refused, DNS failure) a subclass of
    # ConnectTimeoutError for backwards compatibility, but it is not a timeout.
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return FetchError("connection", url, f"connection failed ({exc})")
    if isinstance(exc, (urllib3.exceptions.TimeoutError, TimeoutError)):
        return FetchError("timeout", url, f"timed out (connect {limits.connect_timeout:g} s / read {limits.read_timeout:g} s)")
    if isinstance(exc, urllib3.exceptions.LocationParseError):
        return FetchError("bad_url", url, f"not a URL ({exc})")
    return FetchError("connection", url, f"connection failed ({type(exc).__name__}: {exc})")


def _read_capped(response, url: str, limits: FetchLimits, started: float) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limits.max_bytes:
        raise FetchError("too_large", url, f"body of {int(declared)} bytes exceeds the {limits.max_bytes}-byte cap")
    chunks, size = [], 0
    try:
        # read1 returns whatever has arrived (stream() would wait for a full chunk), so the
        # deadline is checked at least once per read timeout even against a dribbling server.
        while chunk := response.read1(CHUNK, decode_content=True):
            size += len(chunk)
            if size > limits.max_bytes:
                raise FetchError("too_large", url, f"body exceeds the {limits.max_bytes}-byte cap")
            chunks.append(chunk)
            _remaining(limits, started, url)
    except (ReadTimeoutError, TimeoutError):
        raise FetchError("timeout", url, f"no data for {limits.read_timeout:g} s while reading the body") from None
    except (ProtocolError, Urllib3Error, OSError) as exc:
        raise FetchError("connection", url, f"body could not be read ({type(exc).__name__}: {exc})") from None
    return b"".join(chunks)
