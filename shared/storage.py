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
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import sessionmaker

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
        raise ConfigError(f"database_url {url!r} is not a database URL such as sqlite:///var/troika.db") from None
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
