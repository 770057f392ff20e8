import time

import pytest

from finance_monitor.ingest.fetch import FetchLimits
from finance_monitor.ingest.poll import poll_feed, poll_page

from .local_http import QuietHandler, serve
from .samples import MALFORMED, PAGE, RSS

ETAG = '"feed-v7"'


class Handler(QuietHandler):
    def do_GET(self):
        if self.path == "/feed":
            if self.headers.get("If-None-Match") == ETAG:
                return self.send(304, headers=[("ETag", ETAG)])
            return self.send(200, RSS, [("ETag", ETAG), ("Content-Type", "application/rss+xml")])
        if self.path == "/malformed":
            return self.send(200, MALFORMED, [("Content-Type", "application/rss+xml")])
        if self.path == "/huge":
            return self.send(200, RSS + b" " * 5000, [("Content-Type", "application/rss+xml")])
        if self.path == "/hang":
            time.sleep(1.2)
            return self.send(200, RSS)
        if self.path == "/article":
            return self.send(200, PAGE, [("Content-Type", "text/html; charset=utf-8")])
        if self.path == "/index":
            return self.send(200, b"<html><body><nav>Home</nav></body></html>", [("Content-Type", "text/html")])
        return self.send(404)


@pytest.fixture(scope="module")
def server():
    with serve(Handler) as url:
        yield url


LIMITS = FetchLimits(read_timeout=0.4, deadline=1.0, max_bytes=4096)


def test_a_feed_polled_twice_is_parsed_once_then_not_modified(server):
    first = poll_feed(server + "/feed", "example", limits=LIMITS)
    assert first.outcome == "ok" and len(first.articles) == 2 and first.etag == ETAG
    assert first.articles[1].url == server + "/rates-hold"  # relative link resolved against the feed
    second = poll_feed(server + "/feed", "example", etag=first.etag, limits=LIMITS)
    assert (second.outcome, second.articles, second.etag) == ("not_modified", [], ETAG)


@pytest.mark.parametrize(
    "path, outcome, kind, detail",
    [
        ("/malformed", "skipped", None, "malformed feed"),
        ("/huge", "error", "too_large", "4096-byte cap"),
        ("/hang", "error", "timeout", "timed out"),
        ("/missing", "error", "http_status", "HTTP 404"),
    ],
)
def test_bad_feeds_are_recorded_outcomes_never_exceptions(server, caplog, path, outcome, kind, detail):
    result = poll_feed(server + path, "example", etag='"old"', limits=LIMITS)
    assert detail in caplog.text  # logged as well as returned
    assert (result.outcome, result.error_kind, result.articles) == (outcome, kind, [])
    assert detail in result.detail
    if outcome == "error":
        assert result.etag == '"old"'  # a failed poll keeps the validators it had


def test_article_pages_are_polled_into_one_article_or_skipped(server):
    page = poll_page(server + "/article", "example", limits=LIMITS)
    assert page.outcome == "ok" and page.articles[0].title == "Acme shares fall after profit warning"
    assert poll_page(server + "/index", "example", limits=LIMITS).outcome == "skipped"
    assert poll_page(server + "/hang", "example", limits=LIMITS).error_kind == "timeout"
