"""One scheduler per deployment, on SQLite and PostgreSQL: a second holder is refused, a killed holder frees the lock."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import shared
from shared.errors import ConfigError
from shared.scheduler_lock import lock_for
from shared.storage import make_engine
from tests.shared.test_scheduler import wait_for

HOLD_LOCK = """
import sys, time
from shared.scheduler_lock import lock_for
from shared.storage import make_engine
lock = lock_for(make_engine(sys.argv[1]), "test_app")
print("held" if lock.acquire() else "refused", flush=True)
time.sleep(60)
"""


def test_a_second_holder_is_refused_the_lock_is_per_name_and_release_hands_it_on(db_url):
    # Two engines: another session (PostgreSQL) or another open file (SQLite), as another process has.
    first_engine, second_engine = make_engine(db_url), make_engine(db_url)
    try:
        first = lock_for(first_engine, "test_app")
        assert first.acquire() and first.acquire()  # taking it again while held is a no-op
        second = lock_for(second_engine, "test_app")
        assert second.acquire() is False
        other = lock_for(second_engine, "other_app")
        assert other.acquire()  # scoped by name
        other.release()
        first.release()
        first.release()  # safe when not held
        assert second.acquire() and second.held()
        second.release()
        assert not second.held()
    finally:
        first_engine.dispose()
        second_engine.dispose()


def test_a_second_process_is_refused_and_a_killed_holder_frees_the_lock(db_url, db_engine):
    env = {**os.environ, "PYTHONPATH": str(Path(shared.__file__).parents[1])}
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, db_url], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "held"
        lock = lock_for(db_engine, "test_app")
        assert lock.acquire() is False
        holder.send_signal(signal.SIGKILL)  # no clean shutdown: the OS / the server must drop the lock
        holder.wait(timeout=5)
        assert wait_for(lock.acquire)
        lock.release()
    finally:
        holder.kill()
        holder.wait(timeout=5)


def test_an_in_memory_database_cannot_host_a_scheduler():
    with pytest.raises(ConfigError, match="database file or server"):
        lock_for(make_engine("sqlite://"), "test_app")
