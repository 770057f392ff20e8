"""Databases: engines with safe SQLite settings, per-app Alembic migrations, sessions.

One URL from config picks the database: SQLite under ``var/`` by default, PostgreSQL
where several processes or hosts share the data. Each app keeps its migrations in a
folder of Alembic revision files (``<app>/migrations/versions/*.py``, no env.py or
alembic.ini) and its own version table, so apps migrate independently::

    engine = make_engine(config.database_url)
    migrate(engine, Path(__file__).parent / "migrations", "customer_service_alembic_version")
    Session = make_sessionmaker(engine)
    with Session.begin() as session:     # commits on success, rolls back on error
        session.add(turn)

The same tables behave the same on SQLite and PostgreSQL when written with what this
module gives (each is tested on both backends):

- ``UTCDateTime``: timestamps go in as aware datetimes and come back aware, in UTC
  (SQLite would otherwise drop the zone and PostgreSQL return the session's zone);
- ``JSONDocument``: JSON on SQLite, JSONB on PostgreSQL;
- ``insert_new`` / ``upsert``: ``INSERT ... ON CONFLICT`` on a natural key, so two writers
  racing on the same key end with one row and no error on either backend;
- integer primary keys with ``sqlite_autoincrement=True`` in the table's options, so a
  deleted row's id is never handed out again (PostgreSQL never reuses one);
- ``engine_for(url)``: one engine per URL per process, with ``pool_pre_ping`` on servers
  so a restarted database costs no failed request.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import JSON, DateTime, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import sessionmaker
from sqlalchemy.types import TypeDecorator

from .errors import ConfigError

# Applied to every new SQLite connection. busy_timeout waits for a competing writer
# instead of failing at once; synchronous=FULL makes a commit survive power loss in WAL.
SQLITE_PRAGMAS = {
    "journal_mode": "WAL",
    "busy_timeout": 5000,
    "foreign_keys": "ON",
    "synchronous": "FULL",
}


def make_engine(url: str, **kwargs: Any) -> Engine:
    """A SQLAlchemy engine for ``url``; ``kwargs`` go to ``create_engine``.

    For SQLite the file's folder is created and every connection gets SQLITE_PRAGMAS.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"database_url {redact_url(url)!r} is not a database URL such as sqlite:///var/troika.db") from None
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(parsed, **kwargs)
    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, **kwargs)
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection, _record) -> None:
    # The sqlite3 module's own transaction handling skips BEGIN before DDL, which would
    # make migrations impossible to roll back; SQLAlchemy emits BEGIN instead (_sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for name, value in SQLITE_PRAGMAS.items():
        cursor.execute(f"PRAGMA {name}={value}")
    cursor.close()


def _sqlite_begin(connection) -> None:
    # IMMEDIATE takes the write lock up front, so a transaction that reads and then writes
    # waits (busy_timeout) for another writer instead of failing with "database is locked".
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_sessionmaker(engine: Engine) -> sessionmaker:
    """Sessions whose objects stay readable after commit (handy when a view returns them)."""
    return sessionmaker(engine, expire_on_commit=False)


def _scripts(script_location: str | os.PathLike) -> ScriptDirectory:
    folder = Path(script_location)
    if not (folder / "versions").is_dir():
        raise ConfigError(f"{folder} holds no versions/ folder of migration files")
    return ScriptDirectory(str(folder))


def current_revision(engine: Engine, version_table: str) -> str | None:
    """The revision the database is at for one app (None before its first migration)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection, opts={"version_table": version_table}).get_current_revision()


def migrate(engine: Engine, script_location: str | os.PathLike, version_table: str) -> list[str]:
    """Upgrade one app's tables to its newest revision; return the revisions applied, oldest first.

    All pending revisions run in one transaction: if one fails, the database is left as it
    was (PostgreSQL and SQLite both roll back DDL). Running it again when up to date does nothing.
    """
    scripts = _scripts(script_location)
    applied: list[str] = []

    def upgrade_steps(current, _context):
        steps = scripts._upgrade_revs("head", current)  # what `alembic upgrade head` runs
        applied.extend(step.revision.revision for step in steps)
        return steps

    try:
        with engine.begin() as connection:
            context = MigrationContext.configure(connection, opts={"version_table": version_table, "fn": upgrade_steps})
            with Operations.context(context):
                context.run_migrations()
    except (CommandError, RevisionError) as exc:
        raise ConfigError(f"cannot migrate {script_location} ({version_table}): {exc}") from None
    return applied


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ***, for messages and logs (works on unparsable text too)."""
    return re.sub(r"(//[^/:@]*:)[^@/]*@", r"\1***@", str(url))


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def engine_for(url: str) -> Engine:
    """The process's one engine for ``url`` (apps sharing a database share its pool)."""
    with _engines_lock:
        if url not in _engines:
            _engines[url] = make_engine(url)
        return _engines[url]


def check_database(url: str) -> tuple[bool, str]:
    """(ok, detail) of a round trip to the database at ``url``; the detail never holds a password."""
    try:
        with engine_for(url).connect() as connection:
            connection.execute(text("SELECT 1"))
    except (DBAPIError, OSError) as exc:
        # The driver's first line says what failed (refused, auth, unknown database) without the URL.
        reason = str(getattr(exc, "orig", exc) or type(exc).__name__).strip().splitlines()[0]
        return False, f"cannot reach the database {redact_url(url)}: {redact_url(reason)}"
    return True, make_url(url).get_backend_name()


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always returned timezone-aware (UTC) on every backend.

    Naive datetimes are refused: guessing their zone is how events end up hours off.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give it a timezone (datetime.timezone.utc)")
        value = value.astimezone(dt.UTC)
        # SQLite keeps text and compares it as text: store one format, without an offset.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# JSONB on PostgreSQL: indexable and compared by value; plain JSON text elsewhere.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")

# Rows per INSERT statement: well under SQLite's bound-parameter limit for wide tables.
_CHUNK = 200


def _insert(connection: Connection, table: Table):
    name = connection.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"ON CONFLICT inserts are written for SQLite and PostgreSQL, not {name}")


def insert_new(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]], key: Iterable[str] | None,
               *, returning: Iterable[str] | None = None) -> list:
    """Insert the ``rows`` whose ``key`` columns (a unique constraint) are not there yet; return those inserted.

    ``key=None`` skips a row that clashes with any unique constraint. The result holds one
    row per inserted row, with the ``returning`` columns (default: the key, else the primary
    key). Safe under concurrent writers: a row another transaction is inserting at the same
    moment is waited for and skipped, never an IntegrityError.
    """
    key = list(key) if key is not None else None
    columns = [table.c[c] for c in (returning or key or [c.name for c in table.primary_key])]
    statement = _insert(connection, table)
    statement = statement.on_conflict_do_nothing(index_elements=key) if key else statement.on_conflict_do_nothing()
    # RETURNING says what went in on both backends (rowcount is -1 for some drivers). The rows go as
    # parameters, not literal VALUES: the statement is then compiled once and cached (a chat message
    # costs one compile less), and SQLAlchemy batches many rows into multi-row INSERTs itself.
    statement = statement.returning(*columns)
    inserted: list = []
    for start in range(0, len(rows), _CHUNK):
        chunk = [dict(row) for row in rows[start : start + _CHUNK]]
        inserted += connection.execute(statement, chunk[0] if len(chunk) == 1 else chunk).all()
    return inserted


def upsert(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]], key: Iterable[str],
           update: Iterable[str] | None = None) -> int:
    """Insert ``rows``, or update the ``update`` columns (default: all given but the key) where ``key`` exists."""
    key = list(key)
    for start in range(0, len(rows), _CHUNK):
        chunk = list(rows[start : start + _CHUNK])
        statement = _insert(connection, table).values(chunk)
        columns = list(update) if update is not None else [c for c in chunk[0] if c not in key]
        if columns:
            statement = statement.on_conflict_do_update(index_elements=key, set_={c: statement.excluded[c] for c in columns})
        else:
            statement = statement.on_conflict_do_nothing(index_elements=key)
        connection.execute(statement)
    return len(rows)
