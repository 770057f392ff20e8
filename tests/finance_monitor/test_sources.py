from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from finance_monitor.sources import StreamReplay, parse_article_page, parse_feed, read_stream, stamp_date
from shared.errors import DataError

from .samples import ATOM, MALFORMED, PAGE, RSS, STREAM

DEV_STREAM = Path(__file__).resolve().parents[3] / "shared" / "data" / "finance_news_stream" / "headlines_dev_until_2019-12-31.csv"

def test_rss_items_become_articles_with_utc_times():
    result = parse_feed(RSS, source="example", base_url="https://news.example.com/feed.xml")
    assert not result.skipped and result.warning is None and result.feed_title == "Example Markets"
    first, second = result.articles
    assert first.title == "Acme shares tumble after profit warning"
    assert first.guid == "acme-2024-0305" and first.url.startswith("https://news.example.com/acme-warning")
    assert first.published_at == datetime(2024, 3, 5, 19, 30, tzinfo=timezone.utc)
    assert first.time_precision == "second"
    assert "script" not in first.text and "x()" not in first.text  # feedparser sanitises
    # No date: the fetch time will stand in; a relative link resolves against the feed.
    assert second.published_at is None and second.time_precision == "fetched"
    assert second.url == "https://news.example.com/rates-hold"


def test_atom_entries_prefer_content_and_the_published_date():
    (entry,) = parse_feed(ATOM, source="wire").articles
    assert entry.guid == "urn:example:wire:1" and entry.url == "https://wire.example.org/bonds"
    assert entry.published_at == datetime(2024, 3, 5, 8, 15, tzinfo=timezone.utc)
    assert "Longer body" in entry.text
    assert "jump" in entry.title


@pytest.mark.parametrize("data", [MALFORMED, b"", b"not a feed at all", b"\xff\xfe\x00garbage", b"<html><body>hello</body></html>"])
def test_malformed_feeds_are_skipped_with_a_warning_never_raised(data):
    result = parse_feed(data, source="broken")
    assert result.skipped and result.articles == []
    assert result.warning


def test_a_benign_encoding_quirk_keeps_the_entries_with_a_warning():
    # Declared as ASCII but holding UTF-8: feedparser recovers and flags it.
    data = RSS.replace(b'encoding="utf-8"', b'encoding="us-ascii"').replace(b"Central bank", "Central bank \u2013".encode())
    result = parse_feed(data, source="example")
    assert not result.skipped and len(result.articles) == 2
    assert result.warning and "CharacterEncodingOverride" in result.warning


def test_feedparser_never_sees_a_url_or_a_path(tmp_path):
    # A string that names a local file must be treated as (invalid) feed bytes, not opened.
    secret = tmp_path / "feed.xml"
    secret.write_bytes(RSS)
    result = parse_feed(str(secret).encode(), source="x")
    assert result.skipped and result.articles == []


def test_an_article_page_gives_title_text_and_day_precision_date():
    article = parse_article_page(PAGE, url="https://news.example.com/acme", source="example")
    assert article.title == "Acme shares fall after profit warning"
    assert "weaker demand in Europe" in article.text
    assert "track()" not in article.text and "Copyright" not in article.text
    assert (article.published_at, article.time_precision) == (datetime(2024, 3, 5, 12, tzinfo=timezone.utc), "day")


@pytest.mark.parametrize("data", [b"", b"<html><body><nav>menu</nav></body></html>", b"\x00\x01\x02"])
def test_a_page_without_an_article_gives_none(data):
    assert parse_article_page(data, url="https://news.example.com/", source="example") is None


def test_stream_rows_follow_the_day_precision_convention(tmp_path):
    path = tmp_path / "stream.csv"
    path.write_text(STREAM)
    articles = read_stream(path)
    assert [a.published_at for a in articles] == sorted(a.published_at for a in articles)
    by_title = {a.title: a for a in articles}
    day = by_title["Stocks slide as tariff threat returns"]
    assert (day.published_at, day.time_precision) == (datetime(2019, 5, 6, 12, tzinfo=timezone.utc), "day")
    minute = by_title["Apple shares lower premarket"]
    assert (minute.published_at, minute.tickers, minute.source) == (datetime(2019, 5, 6, 13, 30, tzinfo=timezone.utc), ("AAPL",), "benzinga")
    assert by_title['Cramer: "stay calm"'].text == "Teaser sentence"
    assert by_title["Monthly round-up"].published_at == stamp_date(datetime(2019, 5, 1).date(), "month")
    assert len({a.guid for a in articles}) == len(articles)
    assert [a.guid for a in read_stream(path)] == [a.guid for a in articles]  # stable across replays


def test_replay_walks_simulated_windows_without_gaps_or_repeats(tmp_path):
    path = tmp_path / "stream.csv"
    path.write_text(STREAM)
    replay = StreamReplay(path, start=datetime(2019, 5, 6, tzinfo=timezone.utc))
    windows = list(replay.windows(timedelta(hours=6)))
    seen = [a.title for _, _, batch in windows for a in batch]
    assert sorted(seen) == sorted(a.title for a in read_stream(path) if a.published_at >= datetime(2019, 5, 6, tzinfo=timezone.utc))
    first_start, first_end, batch = windows[0]
    assert first_end - first_start == timedelta(hours=6) and batch == []  # nothing before 06:00 UTC
    # [12:00, 18:00): the day-precision row stamped at noon, then 09:30 EDT = 13:30 UTC.
    assert [a.title for a in windows[2][2]] == ["Stocks slide as tariff threat returns", "Apple shares lower premarket"]
    with pytest.raises(ValueError, match="only moves forward"):
        replay.advance(datetime(2019, 5, 1, tzinfo=timezone.utc))


@pytest.mark.parametrize(
    "content, message",
    [
        ("published_at,source,headline\n2019-01-01,reuters,x\n", "missing column"),
        ("published_at,time_precision,source,ticker,headline,description\n2019-01-01,hour,reuters,,x,\n", ":2: time_precision 'hour'"),
        ("published_at,time_precision,source,ticker,headline,description\n2019-13-01T10:00:00+00:00,minute,reuters,,x,\n", ":2: bad published_at"),
        ("published_at,time_precision,source,ticker,headline,description\n2019-01-01T10:00:00,minute,reuters,,x,\n", "need a UTC offset"),
        ("published_at,time_precision,source,ticker,headline,description\n", "no rows"),
    ],
)
def test_bad_stream_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_stream(path)


@pytest.mark.skipif(not DEV_STREAM.is_file(), reason="finance_news_stream dev data not present")
def test_the_dev_stream_reads_whole():
    articles = read_stream(DEV_STREAM)
    assert len(articles) == sum(1 for _ in open(DEV_STREAM, encoding="utf-8")) - 1
    assert {a.time_precision for a in articles} == {"minute", "day", "month"}
    assert all(a.published_at.utcoffset() == timedelta(0) for a in articles[:1000])
