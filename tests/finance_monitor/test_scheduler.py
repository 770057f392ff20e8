"""The scheduler on SQLite and PostgreSQL: jobs run and are recorded, errors and misses too, one scheduler per deployment."""

import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import finance_monitor
from finance_monitor.scheduler import JOBS_TABLE, MonitorScheduler, SchedulePlan, SourceJob
from finance_monitor.scheduler_lock import lock_for
from finance_monitor.store import MonitorStore
from shared.errors import ConfigError
from shared.storage import make_engine, migrate

MIGRATIONS = Path(finance_monitor.__file__).parent / "migrations"
UTC = dt.timezone.utc
HOUR = 3600


class Runner:
    """Records its calls; ``detect`` can raise and ``poll_source`` can block, on demand."""

    def __init__(self, *, detect_error=None, poll_seconds=0.0):
        self.calls, self.detect_error, self.poll_seconds = [], detect_error, poll_seconds

    def poll_source(self, source):
        self.calls.append(("source", source))
        time.sleep(self.poll_seconds)
        return {"new": 2, "duplicates": 1, "ignored": object()}  # only plain values are kept

    def detect(self):
        self.calls.append(("detect",))
        if self.detect_error:
            raise self.detect_error
        return None

    def retrain(self):
        self.calls.append(("retrain",))


@pytest.fixture
def store(db_engine):
    migrate(db_engine, MIGRATIONS, "finance_monitor_alembic_version")
    return MonitorStore(db_engine)


@pytest.fixture
def schedulers(store):
    """Make schedulers on the test database; any still running are shut down after the test."""
    made = []

    def make(runner=None, plan=None, **kwargs):
        made.append(MonitorScheduler(store.engine, store, runner or Runner(), plan or SchedulePlan(detect_every=HOUR), **kwargs))
        return made[-1]

    yield make
    for scheduler in made:
        scheduler.shutdown(wait=True)


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not true after {timeout} s: {condition.__doc__ or condition}")


def runs(store, **filters):
    return list(reversed(store.job_runs(limit=500, **filters)))


def test_each_job_runs_on_its_own_interval_and_every_run_is_recorded(store, schedulers):
    runner = Runner()
    plan = SchedulePlan(sources=(SourceJob("wire", every=0.2), SourceJob("blog", every=HOUR)), detect_every=0.3,
                        retrain_every=HOUR)
    scheduler = schedulers(runner, plan)
    assert scheduler.start()
    wait_for(lambda: len(runs(store, job_id="source:wire")) >= 3 and runs(store, job_id="detect"))
    scheduler.shutdown()
    assert ("source", "blog") not in runner.calls and ("retrain",) not in runner.calls  # hourly: not yet
    wire = runs(store, job_id="source:wire")
    assert {r["outcome"] for r in wire} == {"ok"} and wire[0]["counts"] == {"new": 2, "duplicates": 1}
    assert all(r["scheduled_at"] <= r["started_at"] <= r["finished_at"] for r in wire)
    # Fixed ids in APScheduler's own table, with plain-string arguments only.
    with store.engine.connect() as c:
        ids = set(c.execute(sa.text(f"SELECT id FROM {JOBS_TABLE}")).scalars())
    assert ids == {"source:wire", "source:blog", "detect", "retrain"}


def test_jobs_persist_with_fixed_ids_and_a_dropped_source_is_removed(store, schedulers):
    first = schedulers(plan=SchedulePlan(sources=(SourceJob("wire", HOUR), SourceJob("blog", HOUR)), detect_every=HOUR))
    assert first.start()
    job = first.aps.get_job("source:wire")
    assert job.args == ("finance_monitor", "wire") and job.coalesce and job.max_instances == 1 and job.misfire_grace_time == 120
    first.shutdown()
    # Restart with one source fewer: replace_existing keeps ids unique, the stale job goes.
    second = schedulers(plan=SchedulePlan(sources=(SourceJob("wire", 2 * HOUR),), detect_every=HOUR))
    assert second.start()
    assert sorted(j["id"] for j in second.jobs()) == ["detect", "source:wire"]
    assert second.aps.get_job("source:wire").trigger.interval == dt.timedelta(hours=2)


def test_a_job_that_raises_is_recorded_and_the_scheduler_keeps_running(store, schedulers, caplog):
    runner = Runner(detect_error=ValueError("bucket 2026-05-04 has\nno baseline"))
    scheduler = schedulers(runner, SchedulePlan(sources=(SourceJob("wire", 0.2),), detect_every=0.2))
    with caplog.at_level(logging.ERROR, logger="finance_monitor.scheduler"):
        assert scheduler.start()
        wait_for(lambda: len(runs(store, job_id="detect", outcome="error")) >= 2)
        errors_at = len(runner.calls)
        wait_for(lambda: len(runner.calls) > errors_at + 2)  # still polling after the failures
    assert scheduler.running
    error = runs(store, job_id="detect", outcome="error")[0]
    assert error["detail"] == "ValueError: bucket 2026-05-04 has no baseline" and error["finished_at"] is not None
    assert "Traceback" not in error["detail"] and "no baseline" in caplog.text


def test_a_run_later_than_the_misfire_grace_is_recorded_as_missed(store, schedulers):
    runner = Runner()
    scheduler = schedulers(runner, SchedulePlan(detect_every=HOUR, misfire_grace_time=1))
    assert scheduler.start()
    due = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(seconds=30)  # as after a 30 s stall
    scheduler.aps.modify_job("detect", next_run_time=due)
    (missed,) = wait_for(lambda: runs(store, job_id="detect", outcome="missed"))
    assert missed["scheduled_at"] == due and missed["detail"].startswith("missed by 3")
    assert ("detect",) not in runner.calls and scheduler.running
    assert scheduler.aps.get_job("detect").next_run_time == due + dt.timedelta(hours=1)  # the interval carries on


def test_a_restart_keeps_the_stored_schedule_and_records_runs_missed_while_down(store, schedulers):
    plan = SchedulePlan(sources=(SourceJob("wire", HOUR),), detect_every=HOUR, misfire_grace_time=1)
    first = schedulers(plan=plan)
    assert first.start()
    wire_next = first.aps.get_job("source:wire").next_run_time
    first.aps.pause()
    due = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(seconds=30)
    first.aps.modify_job("detect", next_run_time=due)  # detect fell due while the process was down
    first.shutdown()
    second = schedulers(plan=plan)
    assert second.start()
    (missed,) = wait_for(lambda: runs(store, job_id="detect", outcome="missed"))
    assert missed["scheduled_at"] == due
    assert second.aps.get_job("source:wire").next_run_time == wire_next  # not pushed back by the restart


def test_a_run_due_while_the_previous_one_runs_is_skipped_and_recorded(store, schedulers):
    scheduler = schedulers(Runner(poll_seconds=1.0), SchedulePlan(sources=(SourceJob("slow", 0.2),), detect_every=HOUR))
    assert scheduler.start()
    skipped = wait_for(lambda: runs(store, job_id="source:slow", outcome="missed"))
    assert "max_instances=1" in skipped[0]["detail"]


def test_the_scheduler_survives_its_job_table_going_away_for_a_while(store, schedulers):
    """A database hiccup (here the job table renamed away, then back) must not end the scheduler's thread."""
    plan = SchedulePlan(sources=(SourceJob("wire", 0.1),), detect_every=HOUR, store_retry_every=0.1)
    scheduler = schedulers(plan=plan)
    assert scheduler.start()
    wait_for(lambda: runs(store, job_id="source:wire"))
    with store.engine.begin() as c:
        c.execute(sa.text(f"ALTER TABLE {JOBS_TABLE} RENAME TO fm_jobs_away"))
    time.sleep(0.5)  # several loops fail meanwhile
    with store.engine.begin() as c:
        c.execute(sa.text(f"ALTER TABLE fm_jobs_away RENAME TO {JOBS_TABLE}"))
    count = len(runs(store, job_id="source:wire"))
    wait_for(lambda: len(runs(store, job_id="source:wire")) >= count + 3)


def test_run_now_runs_a_job_at_once(store, schedulers):
    runner = Runner()
    scheduler = schedulers(runner)
    assert scheduler.start()
    scheduler.run_now("detect")
    wait_for(lambda: runs(store, job_id="detect", outcome="ok"))
    assert runner.calls == [("detect",)]


def test_only_one_scheduler_runs_and_shutdown_hands_the_lock_on(store, schedulers, caplog):
    first, second = schedulers(), schedulers()
    assert first.start()
    with caplog.at_level(logging.WARNING, logger="finance_monitor.scheduler"):
        assert second.start() is False
    assert "not started: another one holds the" in caplog.text and not second.running
    # Another engine is another session / another open file: refused too.
    other_engine = make_engine(store.engine.url.render_as_string(hide_password=False))
    try:
        assert lock_for(other_engine, "finance_monitor").acquire() is False
        assert lock_for(other_engine, "another_app").acquire() is True  # scoped by name
    finally:
        other_engine.dispose()
    first.shutdown(wait=True)
    assert second.start() and second.running


def test_shutdown_waits_for_the_running_job_then_releases_the_lock(store, schedulers):
    runner = Runner(poll_seconds=0.8)
    first = schedulers(runner, SchedulePlan(sources=(SourceJob("wire", HOUR),), detect_every=HOUR))
    assert first.start()
    first.run_now("source:wire")
    wait_for(lambda: runner.calls)
    first.shutdown(wait=True)
    assert [r["outcome"] for r in runs(store, job_id="source:wire")] == ["ok"]  # finished and recorded before return
    assert schedulers().start()


HOLD_LOCK = """
import sys, time
from finance_monitor.scheduler_lock import lock_for
from shared.storage import make_engine
lock = lock_for(make_engine(sys.argv[1]), "finance_monitor")
print("held" if lock.acquire() else "refused", flush=True)
time.sleep(60)
"""


def test_a_second_process_is_refused_and_a_killed_holder_frees_the_lock(db_url, store):
    env = {**os.environ, "PYTHONPATH": str(Path(finance_monitor.__file__).parents[1])}
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, db_url], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert holder.stdout.readline().strip() == "held"
        lock = lock_for(store.engine, "finance_monitor")
        assert lock.acquire() is False
        holder.send_signal(signal.SIGKILL)  # no clean shutdown: the OS / the server must drop the lock
        holder.wait(timeout=5)
        assert wait_for(lock.acquire)
        lock.release()
    finally:
        holder.kill()
        holder.wait(timeout=5)


def test_an_in_memory_database_cannot_host_the_scheduler():
    with pytest.raises(ConfigError, match="database file or server"):
        lock_for(make_engine("sqlite://"), "finance_monitor")


def test_schedule_plans_reject_clashing_or_empty_settings():
    with pytest.raises(ValueError, match="distinct"):
        SchedulePlan(sources=(SourceJob("a", 60), SourceJob("a", 30)))
    with pytest.raises(ValueError):
        SourceJob("a", 0)
    with pytest.raises(ValueError):
        SchedulePlan(misfire_grace_time=0)


def test_threads_do_not_outlive_shutdown(store, schedulers):
    before = {t.ident for t in threading.enumerate()}
    scheduler = schedulers(plan=SchedulePlan(sources=(SourceJob("wire", 0.1),), detect_every=HOUR))
    assert scheduler.start()
    wait_for(lambda: runs(store, job_id="source:wire"))
    scheduler.shutdown(wait=True)
    assert wait_for(lambda: {t.ident for t in threading.enumerate() if t.is_alive()} <= before)


def _end_lock_session(engine, key):
    """What a PostgreSQL restart does to the lock holder: its session ends, and the lock with it."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF  # a bigint advisory key shows in pg_locks as (classid, objid) halves
    with engine.begin() as c:
        ended = c.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                                  "AND classid::bigint = :high AND objid::bigint = :low AND objsubid = 1"),
                          {"high": unsigned >> 32, "low": unsigned & 0xFFFFFFFF}).scalars().all()
    assert ended == [True]


def test_a_scheduler_whose_lock_session_ends_takes_the_lock_again_or_stops(db_url, store, schedulers):
    scheduler = schedulers()
    assert scheduler.start()
    assert scheduler.aps.get_job("lock-check").trigger.interval == dt.timedelta(seconds=30)
    assert scheduler.check_lock() and scheduler.running
    if not db_url.startswith("postgresql"):
        return  # a flock lasts as long as the process: nothing on SQLite can take it away
    _end_lock_session(store.engine, scheduler.lock.key)
    assert scheduler.check_lock() and scheduler.running  # nobody else took it: taken again
    assert lock_for(store.engine, "finance_monitor").acquire() is False
    _end_lock_session(store.engine, scheduler.lock.key)
    rival = lock_for(store.engine, "finance_monitor")
    assert rival.acquire()
    try:
        assert scheduler.check_lock() is False
        wait_for(lambda: scheduler.aps is None)  # stopped, its threads joined
        assert runs(store, job_id="lock-check") == []  # the internal check is not a job run on the dashboard
    finally:
        rival.release()
