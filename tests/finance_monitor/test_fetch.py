import gzip
import socket
import time

import pytest

from finance_monitor.ingest.fetch import USER_AGENT, FetchError, FetchLimits, fetch

from .local_http import QuietHandler, serve

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
ETAG = '"v1"'
LAST_MODIFIED = "Tue, 05 Mar 2024 10:00:00 GMT"
CAP = 1000


class Handler(QuietHandler):
    def do_GET(self):
        path = self.path
        if path == "/feed":
            if self.headers.get("If-None-Match") == ETAG or self.headers.get("If-Modified-Since") == LAST_MODIFIED:
                return self.send(304, headers=[("ETag", ETAG), ("Content-Length", "0")])
            return self.send(200, FEED, [("ETag", ETAG), ("Last-Modified", LAST_MODIFIED), ("Content-Type", "application/rss+xml")])
        if path == "/ua":
            return self.send(200, self.headers.get("User-Agent", "").encode())
        if path == "/loop":
            return self.send(302, headers=[("Location", "/loop")])
        if path.startswith("/hop/"):
            left = int(path.rsplit("/", 1)[1])
            return self.send(301, headers=[("Location", f"/hop/{left - 1}")]) if left else self.send(200, b"arrived")
        if path == "/to-ftp":
            return self.send(302, headers=[("Location", "ftp://example.invalid/feed")])
        if path == "/big-declared":
            return self.send(200, b"x" * (CAP + 1))
        if path == "/big-undeclared":
            # No Content-Length, close-delimited: only counting while streaming can catch it.
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                for _ in range(50):
                    self.wfile.write(b"y" * 100)
            except OSError:
                pass
            return
        if path == "/gzip-bomb":
            body = gzip.compress(b"\0" * (CAP * 50))
            return self.send(200, body, [("Content-Encoding", "gzip"), ("Content-Length", str(len(body)))])
        if path == "/slow-headers":
            time.sleep(1.5)
            return self.send(200, b"late")
        if path == "/dribble":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"z")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
            return
        if path == "/error":
            return self.send(500, b"boom")
        return self.send(404, b"no")


@pytest.fixture(scope="module")
def server():
    with serve(Handler) as url:
        yield url


LIMITS = FetchLimits(connect_timeout=1, read_timeout=0.5, deadline=1.5, max_bytes=CAP, max_redirects=3)


def test_a_feed_comes_back_with_its_validators_and_a_304_means_not_modified(server):
    first = fetch(server + "/feed", LIMITS)
    assert (first.status, first.body, first.not_modified) == (200, FEED, False)
    assert (first.etag, first.last_modified) == (ETAG, LAST_MODIFIED)
    assert first.content_type == "application/rss+xml"
    again = fetch(server + "/feed", LIMITS, etag=first.etag)
    assert again.not_modified and again.body == b""
    assert fetch(server + "/feed", LIMITS, last_modified=first.last_modified).not_modified


def test_the_user_agent_is_sent(server):
    assert fetch(server + "/ua", LIMITS).body.decode() == USER_AGENT


def test_redirects_are_followed_up_to_the_limit(server):
    result = fetch(server + "/hop/3", LIMITS)
    assert (result.body, result.redirects, result.url) == (b"arrived", 3, server + "/hop/0")
    with pytest.raises(FetchError, match="more than 3 redirects") as info:
        fetch(server + "/hop/4", LIMITS)
    assert info.value.kind == "too_many_redirects"


def test_a_redirect_loop_ends(server):
    with pytest.raises(FetchError) as info:
        fetch(server + "/loop", LIMITS)
    assert info.value.kind == "too_many_redirects"


def test_a_redirect_to_another_scheme_is_refused(server):
    with pytest.raises(FetchError, match="only absolute http") as info:
        fetch(server + "/to-ftp", LIMITS)
    assert info.value.kind == "bad_url"


@pytest.mark.parametrize("path", ["/big-declared", "/big-undeclared", "/gzip-bomb"])
def test_oversize_bodies_stop_at_the_cap(server, path):
    with pytest.raises(FetchError, match=f"{CAP}-byte cap") as info:
        fetch(server + path, LIMITS)
    assert info.value.kind == "too_large"


def test_a_body_at_the_cap_is_accepted(server):
    assert len(fetch(server + "/feed", FetchLimits(max_bytes=len(FEED))).body) == len(FEED)


def test_a_server_that_does_not_answer_times_out(server):
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out") as info:
        fetch(server + "/slow-headers", LIMITS)
    assert info.value.kind == "timeout"
    assert time.monotonic() - started < 1.4


def test_a_server_dribbling_bytes_hits_the_deadline(server):
    # Each byte arrives well within the read timeout; only the overall deadline stops it.
    started = time.monotonic()
    with pytest.raises(FetchError, match="within 1.5 s") as info:
        fetch(server + "/dribble", LIMITS)
    assert info.value.kind == "timeout"
    assert time.monotonic() - started < 3


def test_http_errors_and_refused_connections_become_fetch_errors(server):
    with pytest.raises(FetchError, match="HTTP 500") as info:
        fetch(server + "/error", LIMITS)
    assert (info.value.kind, info.value.status) == ("http_status", 500)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        with pytest.raises(FetchError) as info:
            fetch(f"http://127.0.0.1:{port}/", LIMITS)
    assert info.value.kind == "connection"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "feed.xml", "http://", "javascript:alert(1)"])
def test_only_http_urls_are_fetched(url):
    with pytest.raises(FetchError) as info:
        fetch(url, LIMITS)
    assert info.value.kind == "bad_url"


def test_limits_are_validated():
    with pytest.raises(ValueError):
        FetchLimits(read_timeout=0)
    with pytest.raises(ValueError):
        FetchLimits(max_bytes=0)
