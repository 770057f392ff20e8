"""What must behave the same on SQLite and PostgreSQL: each case runs on both (see db_url)."""

import datetime as dt
import os
import subprocess
import threading

import pytest
import sqlalchemy as sa

from shared.storage import JSONDocument, UTCDateTime, check_database, engine_for, insert_new, make_engine, redact_url, upsert

metadata = sa.MetaData()

articles = sa.Table(
    "articles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("url", sa.String(500), nullable=False, unique=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("published_at", UTCDateTime),
    sa.Column("negative", sa.Boolean, nullable=False, default=False),
    sa.Column("evidence", JSONDocument),
    sa.Column("seen", sa.Integer, nullable=False, default=1),
    sqlite_autoincrement=True,
)


@pytest.fixture
def engine(db_engine):
    metadata.create_all(db_engine)
    return db_engine


def row(url, **values):
    return {"url": url, "title": values.pop("title", url.rsplit("/", 1)[-1]), **values}


def test_timestamps_come_back_aware_in_utc_whatever_zone_went_in(engine):
    new_york = dt.timezone(dt.timedelta(hours=-5))
    sent = dt.datetime(2019, 3, 1, 9, 30, tzinfo=new_york)
    with engine.begin() as connection:
        connection.execute(articles.insert(), [row("https://x/a", published_at=sent)])
        back = connection.execute(sa.select(articles.c.published_at)).scalar_one()
    assert back == sent
    assert back.utcoffset() == dt.timedelta(0)
    assert back.hour == 14


def test_timestamps_compare_in_time_order_across_zones(engine):
    utc = dt.UTC
    tokyo = dt.timezone(dt.timedelta(hours=9))
    with engine.begin() as connection:
        connection.execute(articles.insert(), [
            row("https://x/early", published_at=dt.datetime(2019, 3, 1, 8, 0, tzinfo=tokyo)),   # 23:00 UTC the day before
            row("https://x/late", published_at=dt.datetime(2019, 3, 1, 1, 0, tzinfo=utc)),
        ])
        since = dt.datetime(2019, 3, 1, 0, 0, tzinfo=utc)
        found = connection.execute(sa.select(articles.c.url).where(articles.c.published_at >= since)).scalars().all()
    assert found == ["https://x/late"]


def test_a_naive_timestamp_is_refused_rather_than_guessed(engine):
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        with engine.begin() as connection:
            connection.execute(articles.insert(), [row("https://x/a", published_at=dt.datetime(2019, 3, 1))])


def test_booleans_round_trip_and_filter(engine):
    with engine.begin() as connection:
        connection.execute(articles.insert(), [row("https://x/bad", negative=True), row("https://x/good", negative=False)])
        flagged = connection.execute(sa.select(articles.c.url).where(articles.c.negative.is_(True))).scalars().all()
        values = connection.execute(sa.select(articles.c.negative).order_by(articles.c.url)).scalars().all()
    assert flagged == ["https://x/bad"]
    assert values == [True, False] and all(type(v) is bool for v in values)


def test_json_documents_round_trip_with_unicode_and_nesting(engine):
    evidence = {"counts": [3, 0, 12], "baseline": 0.25, "headline": "Börse fällt – 10 % ↓", "nested": {"ok": True, "none": None}}
    with engine.begin() as connection:
        connection.execute(articles.insert(), [row("https://x/a", evidence=evidence)])
        assert connection.execute(sa.select(articles.c.evidence)).scalar_one() == evidence


def test_unique_text_is_case_and_space_sensitive_on_both(engine):
    with engine.begin() as connection:
        connection.execute(articles.insert(), [row("https://x/A"), row("https://x/a"), row("https://x/a ")])
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as connection:
            connection.execute(articles.insert(), [row("https://x/a")])
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(articles)).scalar() == 3


def test_ids_increase_and_a_deleted_id_is_never_reused(engine):
    with engine.begin() as connection:
        first = connection.execute(articles.insert().returning(articles.c.id), [row("https://x/1")]).scalar_one()
        second = connection.execute(articles.insert().returning(articles.c.id), [row("https://x/2")]).scalar_one()
        connection.execute(articles.delete().where(articles.c.id == second))
        third = connection.execute(articles.insert().returning(articles.c.id), [row("https://x/3")]).scalar_one()
    assert first < second < third


def test_insert_new_skips_rows_whose_key_exists_and_counts_the_rest(engine):
    with engine.begin() as connection:
        assert len(insert_new(connection, articles, [row("https://x/a"), row("https://x/b")], key=["url"])) == 2
        assert insert_new(connection, articles, [row("https://x/b", title="changed"), row("https://x/c")], key=["url"]) == [("https://x/c",)]
        titles = dict(connection.execute(sa.select(articles.c.url, articles.c.title)).all())
    assert titles == {"https://x/a": "a", "https://x/b": "b", "https://x/c": "c"}


def test_insert_new_handles_more_rows_than_one_statement_holds(engine):
    rows = [row(f"https://x/{i}") for i in range(1234)]
    with engine.begin() as connection:
        assert len(insert_new(connection, articles, rows, key=["url"])) == 1234
        assert insert_new(connection, articles, rows, key=["url"]) == []


def test_insert_new_without_a_key_skips_clashes_with_any_unique_constraint_and_returns_ids(engine):
    with engine.begin() as connection:
        first = insert_new(connection, articles, [row("https://x/a")], key=None, returning=["id"])
        again = insert_new(connection, articles, [row("https://x/a"), row("https://x/b")], key=None, returning=["id", "url"])
    assert len(first) == 1 and [r.url for r in again] == ["https://x/b"] and again[0].id > first[0].id


def test_upsert_updates_the_named_columns_of_existing_rows(engine):
    with engine.begin() as connection:
        upsert(connection, articles, [row("https://x/a", title="first", seen=1)], key=["url"])
        upsert(connection, articles, [row("https://x/a", title="second", seen=2), row("https://x/b")], key=["url"], update=["seen"])
        found = connection.execute(sa.select(articles.c.url, articles.c.title, articles.c.seen).order_by(articles.c.url)).all()
    assert [tuple(r) for r in found] == [("https://x/a", "first", 2), ("https://x/b", "b", 1)]


def test_two_writers_racing_on_the_same_key_leave_one_row_and_no_error(engine):
    # Eight threads, each its own connection and transaction, insert the same 50 URLs at once.
    start = threading.Barrier(8)
    errors, counts = [], []

    def write():
        try:
            start.wait()
            with engine.begin() as connection:
                counts.append(len(insert_new(connection, articles, [row(f"https://x/{i}") for i in range(50)], key=["url"])))
        except Exception as exc:  # collected so the assertion shows it
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(counts) == 50
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(articles)).scalar() == 50


def test_concurrent_increments_in_sql_lose_no_update(engine):
    # The portable way to count: the database adds, not Python (read-modify-write loses
    # updates on PostgreSQL's default isolation).
    with engine.begin() as connection:
        connection.execute(articles.insert(), [row("https://x/a", seen=0)])

    def bump():
        for _ in range(20):
            with engine.begin() as connection:
                connection.execute(articles.update().values(seen=articles.c.seen + 1))

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as connection:
        assert connection.execute(sa.select(articles.c.seen)).scalar_one() == 80


def test_a_failed_transaction_is_rolled_back_and_the_pool_serves_the_next(db_url):
    engine = make_engine(db_url, pool_size=1, max_overflow=0) if db_url.startswith("postgresql") else make_engine(db_url)
    metadata.create_all(engine)
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as connection:
            connection.execute(articles.insert(), [row("https://x/kept-only-if-whole")])
            connection.execute(articles.insert(), [row("https://x/kept-only-if-whole")])
    with engine.begin() as connection:  # the one pooled connection is usable again
        connection.execute(articles.insert(), [row("https://x/next")])
        assert connection.execute(sa.select(articles.c.url)).scalars().all() == ["https://x/next"]
    engine.dispose()


def test_check_database_reports_an_unreachable_server_without_its_password():
    ok, detail = check_database("postgresql+psycopg://troika:s3cret-pw@127.0.0.1:1/nowhere?connect_timeout=2")
    assert not ok
    assert "s3cret-pw" not in detail and "127.0.0.1:1" in detail and "***" in detail


def test_redact_url_hides_passwords_even_in_text_that_is_not_a_url():
    assert redact_url("postgresql://me:pw@db:5432/x") == "postgresql://me:***@db:5432/x"
    assert "pw" not in redact_url("postgres ql://me:pw@db/x")
    assert redact_url("sqlite:///var/troika.db") == "sqlite:///var/troika.db"


@pytest.mark.restarts_postgres
def test_the_pool_recovers_after_the_database_restarts(db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("a SQLite file has no server to restart")
    restart = os.environ.get("TROIKA_TEST_POSTGRES_RESTART")
    if not restart:
        pytest.skip("TROIKA_TEST_POSTGRES_RESTART is not set (tests/throwaway_postgres.sh sets it)")
    engine = engine_for(db_url)
    assert check_database(db_url) == (True, "postgresql")
    subprocess.run(restart, shell=True, check=True, timeout=60)
    # Every pooled connection died with the server; pre-ping replaces them on checkout.
    assert check_database(db_url) == (True, "postgresql")
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT 1")).scalar() == 1
