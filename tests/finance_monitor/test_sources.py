from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finance_monitor.ingest.sources import STREAM_COLUMNS, StreamReplay, parse_article_page, parse_feed, read_stream, stamp_date
from shared.datafiles import RowReport
from shared.errors import DataError

from .samples import ATOM, MALFORMED, PAGE, RSS, STREAM

HEADER = "published_at,time_precision,source,ticker,headline,description\n"
DEV_STREAM = Path(__file__).resolve().parents[3] / "shared" / "data" / "finance_news_stream" / "headlines_dev_until_2019-12-31.csv"

def test_rss_items_become_articles_with_utc_times():
    result = parse_feed(RSS, source="example", base_url="https://news.example.com/feed.xml")
    assert not result.skipped and result.warning is None and result.feed_title == "Example Markets"
    first, second = result.articles
    assert first.title == "Acme shares tumble after profit warning"
    assert first.guid == "acme-2024-0305" and first.url.startswith("https://news.example.com/acme-warning")
    assert first.published_at == datetime(2024, 3, 5, 19, 30, tzinfo=UTC)
    assert first.time_precision == "second"
    assert "script" not in first.text and "x()" not in first.text  # feedparser sanitises
    # No date: the fetch time will stand in; a relative link resolves against the feed.
    assert second.published_at is None and second.time_precision == "fetched"
    assert second.url == "https://news.example.com/rates-hold"


def test_atom_entries_prefer_content_and_the_published_date():
    (entry,) = parse_feed(ATOM, source="wire").articles
    assert entry.guid == "urn:example:wire:1" and entry.url == "https://wire.example.org/bonds"
    assert entry.published_at == datetime(2024, 3, 5, 8, 15, tzinfo=UTC)
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
    assert (article.published_at, article.time_precision) == (datetime(2024, 3, 5, 12, tzinfo=UTC), "day")


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
    assert (day.published_at, day.time_precision) == (datetime(2019, 5, 6, 12, tzinfo=UTC), "day")
    minute = by_title["Apple shares lower premarket"]
    assert (minute.published_at, minute.tickers, minute.source) == (datetime(2019, 5, 6, 13, 30, tzinfo=UTC), ("AAPL",), "benzinga")
    assert by_title['Cramer: "stay calm"'].text == "Teaser sentence"
    assert by_title["Monthly round-up"].published_at == stamp_date(datetime(2019, 5, 1).date(), "month")
    assert len({a.guid for a in articles}) == len(articles)
    assert [a.guid for a in read_stream(path)] == [a.guid for a in articles]  # stable across replays


def test_replay_walks_simulated_windows_without_gaps_or_repeats(tmp_path):
    path = tmp_path / "stream.csv"
    path.write_text(STREAM)
    replay = StreamReplay(path, start=datetime(2019, 5, 6, tzinfo=UTC))
    windows = list(replay.windows(timedelta(hours=6)))
    seen = [a.title for _, _, batch in windows for a in batch]
    assert sorted(seen) == sorted(a.title for a in read_stream(path) if a.published_at >= datetime(2019, 5, 6, tzinfo=UTC))
    first_start, first_end, batch = windows[0]
    assert first_end - first_start == timedelta(hours=6) and batch == []  # nothing before 06:00 UTC
    # [12:00, 18:00): the day-precision row stamped at noon, then 09:30 EDT = 13:30 UTC.
    assert [a.title for a in windows[2][2]] == ["Stocks slide as tariff threat returns", "Apple shares lower premarket"]
    with pytest.raises(ValueError, match="only moves forward"):
        replay.advance(datetime(2019, 5, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    "content, message",
    [
        ("published_at,source,text\n2019-01-01,reuters,x\n", "missing column.*headline"),
        ("source,headline\nreuters,x\n", "missing column.*published_at"),
        (HEADER + "2019-01-01,fortnight,reuters,,x,\n", "no row could be read.*line 2: bad published_at.*'fortnight'"),
        (HEADER + "2019-13-01T10:00:00+00:00,minute,reuters,,x,\n", "line 2: bad published_at"),
        (HEADER, "no rows"),
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


# ---- issue 21: every precision, extra columns, bad rows counted ----------------------------

UTC = UTC


@pytest.mark.parametrize(
    "stamp, given, expected, precision",
    [
        ("2022-03-04T22:09:49+00:00", "second", datetime(2022, 3, 4, 22, 9, 49, tzinfo=UTC), "second"),
        ("2022-03-04T22:09:49Z", "", datetime(2022, 3, 4, 22, 9, 49, tzinfo=UTC), "second"),
        ("2022-03-04T22:09:49", "SECOND", datetime(2022, 3, 4, 22, 9, 49, tzinfo=UTC), "second"),  # no zone: UTC
        ("2022-03-04T17:09-05:00", "Minute", datetime(2022, 3, 4, 22, 9, tzinfo=UTC), "minute"),
        ("2022-03-04 22:09", "", datetime(2022, 3, 4, 22, 9, tzinfo=UTC), "minute"),
        ("2022-03-04T23+01:00", "hour", datetime(2022, 3, 4, 22, tzinfo=UTC), "hour"),
        ("2022-03-04T22", "", datetime(2022, 3, 4, 22, tzinfo=UTC), "hour"),
        ("2019-05-13", "", datetime(2019, 5, 13, 12, tzinfo=UTC), "day"),
        ("2019-05-13T23:30:00+02:00", "DAY", datetime(2019, 5, 13, 12, tzinfo=UTC), "day"),  # the recorded date counts
        ("2019-05", "", datetime(2019, 5, 1, 12, tzinfo=UTC), "month"),
        ("2019-05-20", "month", datetime(2019, 5, 1, 12, tzinfo=UTC), "month"),
    ],
)
def test_every_precision_with_and_without_zone(tmp_path, stamp, given, expected, precision):
    path = tmp_path / "one.csv"
    path.write_text(HEADER + f"{stamp},{given},wire,,Quarterly results at Brindle Tools,\n")
    (article,) = read_stream(path)
    assert (article.published_at, article.time_precision) == (expected, precision)


def test_missing_time_precision_column_is_inferred_and_optional_columns_may_be_absent(tmp_path):
    path = tmp_path / "bare.csv"
    path.write_text("headline,published_at\nKestrel Foods opens a plant,2023-07-01T08:15:00Z\n")
    (article,) = read_stream(path)
    assert (article.time_precision, article.source, article.tickers, article.text) == ("second", "", (), "")


def test_url_and_article_id_become_dedupe_keys_and_other_columns_are_ignored(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        "article_id,published_at,time_precision,source,ticker,headline,description,url,sentiment_score\n"
        "A-17,2022-03-04T22:09:49+00:00,second,wire,KSTL,Kestrel Foods recalls a sauce,Body,https://n.example/a17,0.3\n"
        ",2022-03-04T22:10:00+00:00,,wire,,Brindle Tools hires a CFO,,https://n.example/b2,0.1\n"
        ",2022-03-04T22:11:00+00:00,,wire,,No keys at all,,,\n"
    )
    report = RowReport(str(path))
    first, second, third = read_stream(path, report=report)
    assert (first.guid, first.url) == ("A-17", "https://n.example/a17")
    assert (second.guid, second.url) == ("https://n.example/b2", "https://n.example/b2")
    assert (third.guid, third.url) == ("export.csv:4", None)
    assert report.ignored_columns == ["sentiment_score"] and report.count == 0
    assert sum("ignored column(s) sentiment_score" in line for line in report.summary_lines()) == 1


def test_guid_column_is_a_dedupe_key_too(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("guid,published_at,headline\nurn:x:9,2022-03-04,Harbourline lists bonds\n")
    assert read_stream(path)[0].guid == "urn:x:9"


def _thousand_rows_with_three_bad(path):
    lines = [HEADER.strip()]
    for i in range(1000):
        lines.append(f"2021-01-01T00:{i % 60:02d}:00Z,,wire,,Headline number {i},")
    lines[101] = "2021-01-01T00:00:00Z,,wire,,,"            # empty headline
    lines[501] = "yesterday,,wire,,Headline with a bad time,"  # unparsable time
    lines[901] = "2021-01-01T00:00:00Z,,wire"                # too few fields
    path.write_text("\n".join(lines) + "\n")


def test_three_bad_rows_among_a_thousand_are_skipped_and_reported_by_line(tmp_path):
    path = tmp_path / "big.csv"
    _thousand_rows_with_three_bad(path)
    report = RowReport(str(path))
    assert len(read_stream(path, report=report)) == 997
    assert report.count == 3
    assert [line for line, _ in report.rows] == [102, 502, 902]
    assert [reason.split(" (")[0] for _, reason in report.rows] == ["empty headline", "bad published_at", "wrong number of fields"]


def test_strict_stops_at_the_first_bad_row(tmp_path):
    path = tmp_path / "big.csv"
    _thousand_rows_with_three_bad(path)
    with pytest.raises(DataError, match=r"big.csv:102: empty headline"):
        read_stream(path, strict=True)


def test_a_file_of_only_bad_rows_is_an_error_with_the_first_reasons(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "soon,,wire,,A,\n2021-01-01,,wire,,,\n")
    with pytest.raises(DataError, match=r"no row could be read \(2 bad; line 2: bad published_at.*line 3: empty headline"):
        read_stream(path)


ROW_TEXT = st.text(alphabet=st.characters(categories=("L", "N", "Zs"), max_codepoint=0x24F), min_size=1, max_size=20).map(str.strip).filter(bool)
STREAM_ROW = st.tuples(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1)),
    st.sampled_from(["second", "minute", "day", "month", ""]),
    ROW_TEXT, ROW_TEXT,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(STREAM_ROW, min_size=1, max_size=8), order=st.randoms(use_true_random=False))
def test_extra_columns_and_column_order_do_not_change_what_is_read(tmp_path, rows, order):
    import csv

    records = [{"published_at": when.replace(microsecond=0).isoformat() + "Z", "time_precision": precision,
                "source": "wire", "ticker": "", "headline": headline, "description": body} for when, precision, headline, body in rows]
    # Same file name in two folders: the fallback dedupe key is file name and line.
    plain, shuffled = tmp_path / "plain" / "s.csv", tmp_path / "shuffled" / "s.csv"
    plain.parent.mkdir(exist_ok=True)
    shuffled.parent.mkdir(exist_ok=True)
    for path, columns in ((plain, list(STREAM_COLUMNS)), (shuffled, list(STREAM_COLUMNS) + ["desk", "score"])):
        if path is shuffled:
            order.shuffle(columns)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, columns)
            writer.writeheader()
            writer.writerows({**r, "desk": "x,y", "score": "0.5"} if path is shuffled else r for r in records)
    assert read_stream(plain) == read_stream(shuffled)
