import textwrap
import threading

import pytest
import sqlalchemy as sa

from shared.errors import ConfigError
from shared.storage import current_revision, make_engine, make_sessionmaker, migrate

CREATE_NOTES = '''
    revision = "0001"
    down_revision = None

    import sqlalchemy as sa
    from alembic import op


    def upgrade():
        op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True), sa.Column("text", sa.String, nullable=False))
'''

ADD_TAG = '''
    revision = "0002"
    down_revision = "0001"

    import sqlalchemy as sa
    from alembic import op


    def upgrade():
        op.add_column("notes", sa.Column("tag", sa.String))
'''

BROKEN = '''
    revision = "0003"
    down_revision = "0002"

    import sqlalchemy as sa
    from alembic import op


    def upgrade():
        op.create_table("half_done", sa.Column("id", sa.Integer, primary_key=True))
        op.execute("INSERT INTO notes (text) VALUES ('written by a failed migration')")
        raise RuntimeError("migration bug")
'''


def migrations(folder, *revisions):
    """A migrations folder as an app ships it: versions/*.py revision files only."""
    (folder / "versions").mkdir(parents=True, exist_ok=True)
    for number, source in enumerate(revisions, 1):
        (folder / "versions" / f"{number:04d}_step.py").write_text(textwrap.dedent(source))
    return folder


def tables(engine):
    return set(sa.inspect(engine).get_table_names())


@pytest.fixture
def sqlite_engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/data/app.db")
    yield engine
    engine.dispose()


@pytest.fixture
def engine(db_engine):
    """Every test below that takes `engine` runs on SQLite and on PostgreSQL."""
    return db_engine


def test_sqlite_file_and_folder_are_created_with_safe_pragmas(tmp_path, sqlite_engine):
    engine = sqlite_engine
    # Two connections checked out at once: the pragmas are set on each, not just the first.
    with engine.connect() as first, engine.connect() as second:
        for connection in (first, second):
            pragma = lambda name, connection=connection: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731 - reads as a table
            assert pragma("journal_mode") == "wal"
            assert pragma("busy_timeout") >= 5000
            assert pragma("foreign_keys") == 1
            assert pragma("synchronous") == 2  # FULL
            connection.commit()  # every transaction takes the write lock; let the other one have it
        assert first.connection.dbapi_connection is not second.connection.dbapi_connection
    assert (tmp_path / "data" / "app.db").is_file()


def test_foreign_keys_are_enforced(engine):
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE users (id INTEGER PRIMARY KEY)")
        connection.exec_driver_sql("CREATE TABLE clicks (user_id INTEGER NOT NULL REFERENCES users(id))")
    with pytest.raises(sa.exc.IntegrityError):
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO clicks (user_id) VALUES (42)")


def test_migrate_upgrades_to_head_and_again_does_nothing(tmp_path, engine):
    folder = migrations(tmp_path / "migrations", CREATE_NOTES, ADD_TAG)
    assert current_revision(engine, "notes_version") is None
    assert migrate(engine, folder, "notes_version") == ["0001", "0002"]
    assert current_revision(engine, "notes_version") == "0002"
    assert {c["name"] for c in sa.inspect(engine).get_columns("notes")} == {"id", "text", "tag"}
    assert migrate(engine, folder, "notes_version") == []
    assert current_revision(engine, "notes_version") == "0002"


def test_a_new_revision_applies_on_top(tmp_path, engine):
    folder = migrations(tmp_path / "migrations", CREATE_NOTES)
    assert migrate(engine, folder, "notes_version") == ["0001"]
    migrations(folder, CREATE_NOTES, ADD_TAG)
    assert migrate(engine, folder, "notes_version") == ["0002"]


def test_a_failing_migration_leaves_the_database_as_it_was(tmp_path, engine):
    folder = migrations(tmp_path / "migrations", CREATE_NOTES, ADD_TAG)
    migrate(engine, folder, "notes_version")
    migrations(folder, CREATE_NOTES, ADD_TAG, BROKEN)
    with pytest.raises(RuntimeError, match="migration bug"):
        migrate(engine, folder, "notes_version")
    assert current_revision(engine, "notes_version") == "0002"
    assert "half_done" not in tables(engine)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM notes").scalar() == 0


def test_a_failure_in_the_first_run_rolls_back_every_revision(tmp_path, engine):
    folder = migrations(tmp_path / "migrations", CREATE_NOTES, ADD_TAG, BROKEN)
    with pytest.raises(RuntimeError):
        migrate(engine, folder, "notes_version")
    assert tables(engine) == set()


def test_apps_migrate_independently(tmp_path, engine):
    notes = migrations(tmp_path / "notes", CREATE_NOTES, ADD_TAG)
    other = migrations(
        tmp_path / "other",
        '''
        revision = "a1"
        down_revision = None
        import sqlalchemy as sa
        from alembic import op
        def upgrade():
            op.create_table("items", sa.Column("id", sa.Integer, primary_key=True))
        ''',
    )
    assert migrate(engine, notes, "notes_version") == ["0001", "0002"]
    assert migrate(engine, other, "items_version") == ["a1"]
    assert (current_revision(engine, "notes_version"), current_revision(engine, "items_version")) == ("0002", "a1")
    assert {"notes", "items", "notes_version", "items_version"} <= tables(engine)


def test_migration_problems_are_config_errors(tmp_path, engine):
    with pytest.raises(ConfigError, match="no versions/ folder"):
        migrate(engine, tmp_path / "nowhere", "v")
    folder = migrations(tmp_path / "m", CREATE_NOTES, ADD_TAG)
    migrate(engine, folder, "v")
    (folder / "versions" / "0002_step.py").unlink()  # the database is newer than this code
    with pytest.raises(ConfigError, match="0002"):
        migrate(engine, folder, "v")


def test_a_bad_url_is_a_config_error():
    with pytest.raises(ConfigError, match="not a database URL"):
        make_engine("nonsense")


def test_sessions_commit_whole_or_not_at_all(tmp_path, engine):
    migrate(engine, migrations(tmp_path / "m", CREATE_NOTES), "v")
    Session = make_sessionmaker(engine)
    with Session.begin() as session:
        session.execute(sa.text("INSERT INTO notes (text) VALUES ('kept')"))
    with pytest.raises(sa.exc.IntegrityError):
        with Session.begin() as session:
            session.execute(sa.text("INSERT INTO notes (text) VALUES ('lost with the next one')"))
            session.execute(sa.text("INSERT INTO notes (text) VALUES (NULL)"))
    with Session() as session:
        assert session.execute(sa.text("SELECT text FROM notes")).scalars().all() == ["kept"]


def test_concurrent_read_then_write_transactions_wait_instead_of_failing(tmp_path, sqlite_engine):
    engine = sqlite_engine
    # Threads of one server read a counter and write it back; each transaction must
    # wait its turn (no "database is locked", no lost update).
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE counter (n INTEGER NOT NULL)")
        connection.exec_driver_sql("INSERT INTO counter VALUES (0)")
    errors = []

    def bump(times):
        try:
            for _ in range(times):
                with engine.begin() as connection:
                    n = connection.exec_driver_sql("SELECT n FROM counter").scalar()
                    connection.exec_driver_sql("UPDATE counter SET n = ?", (n + 1,))
        except Exception as exc:  # collected, so the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=bump, args=(25,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT n FROM counter").scalar() == 100
