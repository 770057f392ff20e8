"""One scheduler per deployment: a lock held for as long as a scheduler runs.

Several server processes (waitress workers, gunicorn, two hosts on one PostgreSQL) each
try to start an app's scheduler (``shared.scheduler``); the first takes the lock and runs
the jobs, the others keep serving without one::

    lock = lock_for(engine, "finance_monitor")   # one lock per scheduler name
    if lock.acquire():          # False at once when someone else holds it; never waits
        ...                     # run the scheduler
        lock.release()

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection of
  its own, outside any pool, so it lasts exactly as long as that session: a process that
  dies (even kill -9) loses its session and with it the lock. The key is derived from the
  database, the schema and the scheduler's name, so deployments sharing a server in
  separate schemas do not block each other.
- SQLite: an exclusive ``flock`` on a file beside the database (one file per deployment
  there). The kernel drops it when the process dies; ``flock`` locks belong to the open
  file, so two opens in one process also exclude each other.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from shared.errors import ConfigError

log = logging.getLogger(__name__)


class SchedulerLock(Protocol):
    description: str

    def acquire(self) -> bool:
        """Take the lock if free; False (at once) when another holder has it."""

    def release(self) -> None:
        """Give it back; safe to call when not held."""


def lock_key(*parts: str) -> int:
    """A signed 64-bit key (what pg_try_advisory_lock takes) from readable parts."""
    return int.from_bytes(hashlib.sha256("\x00".join(parts).encode()).digest()[:8], "big", signed=True)


class PostgresAdvisoryLock:
    def __init__(self, engine: Engine, name: str):
        self.url, self.name = engine.url, name
        self.description = f"advisory lock {name!r} on {engine.url.render_as_string(hide_password=True)}"
        self._engine: Engine | None = None
        self._connection: Connection | None = None
        self.key: int | None = None

    def acquire(self) -> bool:
        if self._connection is not None:
            return True
        # NullPool: closing the connection ends the session, so the lock can never linger in a pool.
        engine = sa.create_engine(self.url, poolclass=NullPool)
        connection = engine.connect()
        try:
            database, schema = connection.execute(sa.text("SELECT current_database(), current_schema()")).one()
            self.key = lock_key("troika-scheduler", database, schema or "", self.name)
            got = connection.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar()
            connection.commit()  # a session lock outlives the transaction; do not sit "idle in transaction"
        except BaseException:
            connection.close()
            engine.dispose()
            raise
        if not got:
            connection.close()
            engine.dispose()
            return False
        self._engine, self._connection = engine, connection
        return True

    def held(self) -> bool:
        """Whether our session (and so the lock) is still alive: a restarted server drops both."""
        if self._connection is None:
            return False
        try:
            self._connection.execute(sa.text("SELECT 1")).scalar()
            self._connection.commit()
            return True
        except SQLAlchemyError:  # DBAPIError, or PendingRollbackError once the connection was invalidated
            return False

    def release(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            self._connection.commit()
        except SQLAlchemyError:  # DBAPIError, or PendingRollbackError once the connection was invalidated
            pass  # the session is gone, and the server dropped the lock with it
        finally:
            self._connection.close()
            self._engine.dispose()
            self._connection = self._engine = None


class FileLock:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.description = f"lock file {self.path}"
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        # The holder's pid, for a person wondering who has it; the file itself stays (removing
        # a lock file while another process opens it is how two holders happen).
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None


def lock_for(engine: Engine, name: str) -> PostgresAdvisoryLock | FileLock:
    backend = engine.url.get_backend_name()
    if backend == "postgresql":
        return PostgresAdvisoryLock(engine, name)
    if backend == "sqlite":
        database = engine.url.database or ""
        if not database or database == ":memory:" or database.startswith("file:"):
            raise ConfigError("the scheduler needs a database file or server (its jobs and lock live beside the data); "
                              "set database_url to sqlite:///var/troika.db or a PostgreSQL URL")
        return FileLock(Path(database).expanduser().with_name(f"{Path(database).name}.{name}.scheduler.lock"))
    raise ConfigError(f"the scheduler's lock is written for SQLite and PostgreSQL, not {backend}")
