"""The shared scheduler on SQLite and PostgreSQL: jobs run and are recorded, errors and misses too, one scheduler per deployment."""

import datetime as dt
import logging
import pickle
import threading
import time

import pytest
import sqlalchemy as sa

from shared.scheduler import Job, Scheduler
from shared.scheduler_lock import lock_for

UTC = dt.UTC
HOUR = 3600
TABLE = "test_apscheduler_jobs"


class Runner:
    """Records its calls; ``check`` can raise and ``fetch`` can block, on demand."""

    def __init__(self, *, check_error=None, fetch_seconds=0.0):
        self.calls, self.check_error, self.fetch_seconds = [], check_error, fetch_seconds

    def fetch(self, feed):
        self.calls.append(("fetch", feed))
        time.sleep(self.fetch_seconds)
        return {"new": 2, "duplicates": 1, "ignored": object()}  # only plain values are kept

    def check(self):
        self.calls.append(("check",))
        if self.check_error:
            raise self.check_error
        return None


class Record:
    """A ``record`` callable keeping what the scheduler hands it, as the apps' stores do."""

    def __init__(self):
        self.rows = []

    def __call__(self, job_id, status, *, started_at, scheduled_at, finished_at=None, detail="", counts=None):
        self.rows.append(dict(job_id=job_id, status=status, started_at=started_at, scheduled_at=scheduled_at,
                              finished_at=finished_at, detail=detail, counts=counts))

    def runs(self, job_id, status=None):
        return [r for r in list(self.rows) if r["job_id"] == job_id and status in (None, r["status"])]


@pytest.fixture
def record():
    return Record()


@pytest.fixture
def schedulers(db_engine, record):
    """Make schedulers on the test database; any still running are shut down after the test."""
    made = []

    def make(runner=None, jobs=None, **kwargs):
        options = {"name": "test_app", "table": TABLE, "record": record, **kwargs}
        made.append(Scheduler(db_engine, runner or Runner(), jobs or {"check": Job("check", HOUR)}, **options))
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


def test_each_job_runs_on_its_own_interval_and_every_run_is_recorded(db_engine, record, schedulers):
    runner = Runner()
    jobs = {"fetch:wire": Job("fetch", 0.2, ("wire",)), "fetch:blog": Job("fetch", HOUR, ("blog",)), "check": Job("check", 0.3)}
    scheduler = schedulers(runner, jobs)
    assert scheduler.start()
    wait_for(lambda: len(record.runs("fetch:wire")) >= 3 and record.runs("check"))
    scheduler.shutdown()
    assert ("fetch", "blog") not in runner.calls  # hourly: not yet
    wire = record.runs("fetch:wire")
    assert {r["status"] for r in wire} == {"ok"} and wire[0]["counts"] == {"new": 2, "duplicates": 1}
    assert all(r["scheduled_at"] <= r["started_at"] <= r["finished_at"] for r in wire)
    # Fixed ids in APScheduler's own table.
    with db_engine.connect() as c:
        ids = set(c.execute(sa.text(f"SELECT id FROM {TABLE}")).scalars())
    assert ids == {"fetch:wire", "fetch:blog", "check"}


def test_stored_jobs_are_one_shared_function_with_plain_strings_and_fixed_settings(schedulers):
    scheduler = schedulers(jobs={"fetch:wire": Job("fetch", HOUR, ("wire",))})
    assert scheduler.start()
    job = scheduler.aps.get_job("fetch:wire")
    assert job.func_ref == "shared.scheduler:run_job" and job.args == ("test_app", "fetch:wire", "fetch", "wire")
    assert job.coalesce and job.max_instances == 1 and job.misfire_grace_time == 120


def test_jobs_persist_with_fixed_ids_and_an_unplanned_one_is_removed(schedulers):
    first = schedulers(jobs={"fetch:wire": Job("fetch", HOUR, ("wire",)), "fetch:blog": Job("fetch", HOUR, ("blog",))})
    assert first.start()
    first.shutdown()
    # Restart with one job fewer: replace_existing keeps ids unique, the stale job goes.
    second = schedulers(jobs={"fetch:wire": Job("fetch", 2 * HOUR, ("wire",)), "check": Job("check", HOUR)})
    assert second.start()
    assert sorted(j["id"] for j in second.jobs()) == ["check", "fetch:wire"]
    assert second.aps.get_job("fetch:wire").trigger.interval == dt.timedelta(hours=2)


def test_a_stored_job_that_no_longer_imports_is_dropped_and_added_again(db_engine, schedulers, caplog):
    """What an upgrade that moved the job function does: the old rows go, the planned jobs come back."""
    first = schedulers()
    assert first.start()
    first.shutdown()
    with db_engine.begin() as c:  # as an older version stored it: a function since renamed
        state = pickle.loads(c.execute(sa.text(f"SELECT job_state FROM {TABLE} WHERE id = 'check'")).scalar_one())
        state["func"] = "shared.scheduler:gone_in_this_version"
        c.execute(sa.text(f"UPDATE {TABLE} SET job_state = :state WHERE id = 'check'"), {"state": pickle.dumps(state)})
    with caplog.at_level(logging.ERROR, logger="apscheduler"):
        second = schedulers()
        assert second.start()
    assert 'Unable to restore job "check"' in caplog.text
    assert second.aps.get_job("check").func_ref == "shared.scheduler:run_job"
    with db_engine.connect() as c:
        assert c.execute(sa.text(f"SELECT count(*) FROM {TABLE}")).scalar() == 1


def test_a_job_that_raises_is_recorded_and_the_scheduler_keeps_running(record, schedulers, caplog):
    runner = Runner(check_error=ValueError("bucket 2026-05-04 has\nno baseline"))
    scheduler = schedulers(runner, {"fetch:wire": Job("fetch", 0.2, ("wire",)), "check": Job("check", 0.2)})
    with caplog.at_level(logging.ERROR, logger="shared.scheduler"):
        assert scheduler.start()
        wait_for(lambda: len(record.runs("check", "error")) >= 2)
        errors_at = len(runner.calls)
        wait_for(lambda: len(runner.calls) > errors_at + 2)  # still fetching after the failures
    assert scheduler.running
    error = record.runs("check", "error")[0]
    assert error["detail"] == "ValueError: bucket 2026-05-04 has no baseline" and error["finished_at"] is not None
    assert "Traceback" not in error["detail"] and "no baseline" in caplog.text


def test_a_run_later_than_the_misfire_grace_is_recorded_as_missed(record, schedulers):
    runner = Runner()
    scheduler = schedulers(runner, misfire_grace_time=1)
    assert scheduler.start()
    due = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(seconds=30)  # as after a 30 s stall
    scheduler.aps.modify_job("check", next_run_time=due)
    (missed,) = wait_for(lambda: record.runs("check", "missed"))
    assert missed["scheduled_at"] == due and missed["detail"].startswith("missed by 3")
    assert ("check",) not in runner.calls and scheduler.running
    assert scheduler.aps.get_job("check").next_run_time == due + dt.timedelta(hours=1)  # the interval carries on


def test_a_restart_keeps_the_stored_schedule_and_records_runs_missed_while_down(record, schedulers):
    jobs = {"fetch:wire": Job("fetch", HOUR, ("wire",)), "check": Job("check", HOUR)}
    first = schedulers(jobs=jobs, misfire_grace_time=1)
    assert first.start()
    wire_next = first.aps.get_job("fetch:wire").next_run_time
    first.aps.pause()
    due = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(seconds=30)
    first.aps.modify_job("check", next_run_time=due)  # check fell due while the process was down
    first.shutdown()
    second = schedulers(jobs=jobs, misfire_grace_time=1)
    assert second.start()
    (missed,) = wait_for(lambda: record.runs("check", "missed"))
    assert missed["scheduled_at"] == due
    assert second.aps.get_job("fetch:wire").next_run_time == wire_next  # not pushed back by the restart


def test_a_run_due_while_the_previous_one_runs_is_skipped_and_recorded(record, schedulers):
    scheduler = schedulers(Runner(fetch_seconds=1.0), {"fetch:slow": Job("fetch", 0.2, ("slow",))})
    assert scheduler.start()
    skipped = wait_for(lambda: record.runs("fetch:slow", "missed"))
    assert "max_instances=1" in skipped[0]["detail"]


def test_the_scheduler_survives_its_job_table_going_away_for_a_while(db_engine, record, schedulers):
    """A database hiccup (here the job table renamed away, then back) must not end the scheduler's thread."""
    scheduler = schedulers(jobs={"fetch:wire": Job("fetch", 0.1, ("wire",))}, store_retry_every=0.1)
    assert scheduler.start()
    wait_for(lambda: record.runs("fetch:wire"))
    with db_engine.begin() as c:
        c.execute(sa.text(f"ALTER TABLE {TABLE} RENAME TO test_jobs_away"))
    time.sleep(0.5)  # several loops fail meanwhile
    with db_engine.begin() as c:
        c.execute(sa.text(f"ALTER TABLE test_jobs_away RENAME TO {TABLE}"))
    count = len(record.runs("fetch:wire"))
    wait_for(lambda: len(record.runs("fetch:wire")) >= count + 3)


def test_run_now_runs_a_job_at_once(record, schedulers):
    runner = Runner()
    scheduler = schedulers(runner)
    assert scheduler.start()
    scheduler.run_now("check")
    wait_for(lambda: record.runs("check", "ok"))
    assert runner.calls == [("check",)]


def test_only_one_scheduler_runs_and_shutdown_hands_the_lock_on(db_engine, schedulers, caplog):
    first, second = schedulers(), schedulers()
    assert first.start()
    with caplog.at_level(logging.WARNING, logger="shared.scheduler"):
        assert second.start() is False
    assert "not started: another one holds the" in caplog.text and not second.running
    other_app = schedulers(name="other_app")  # the lock is per scheduler name
    assert other_app.start()
    first.shutdown(wait=True)
    assert second.start() and second.running


def test_shutdown_waits_for_the_running_job_then_releases_the_lock(record, schedulers):
    runner = Runner(fetch_seconds=0.8)
    first = schedulers(runner, {"fetch:wire": Job("fetch", HOUR, ("wire",))})
    assert first.start()
    first.run_now("fetch:wire")
    wait_for(lambda: runner.calls)
    first.shutdown(wait=True)
    assert [r["status"] for r in record.runs("fetch:wire")] == ["ok"]  # finished and recorded before return
    assert schedulers().start()


def test_threads_do_not_outlive_shutdown(record, schedulers):
    before = {t.ident for t in threading.enumerate()}
    scheduler = schedulers(jobs={"fetch:wire": Job("fetch", 0.1, ("wire",))})
    assert scheduler.start()
    wait_for(lambda: record.runs("fetch:wire"))
    scheduler.shutdown(wait=True)
    assert wait_for(lambda: {t.ident for t in threading.enumerate() if t.is_alive()} <= before)


def test_jobs_and_settings_are_checked_before_anything_starts(db_engine, record):
    with pytest.raises(ValueError, match="positive interval"):
        Job("check", 0)
    with pytest.raises(ValueError, match="public method"):
        Job("_private", 60)
    with pytest.raises(ValueError, match="tuple of strings"):
        Job("fetch", 60, (3,))
    with pytest.raises(ValueError, match="no method 'retrain'"):
        Scheduler(db_engine, Runner(), {"retrain": Job("retrain", 60)}, name="test_app", table=TABLE, record=record)
    with pytest.raises(ValueError, match="other than 'lock-check'"):
        Scheduler(db_engine, Runner(), {"lock-check": Job("check", 60)}, name="test_app", table=TABLE, record=record)
    with pytest.raises(ValueError, match="misfire_grace_time"):
        Scheduler(db_engine, Runner(), {}, name="test_app", table=TABLE, record=record, misfire_grace_time=0)


def _end_lock_session(engine, key):
    """What a PostgreSQL restart does to the lock holder: its session ends, and the lock with it."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF  # a bigint advisory key shows in pg_locks as (classid, objid) halves
    with engine.begin() as c:
        ended = c.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                                  "AND classid::bigint = :high AND objid::bigint = :low AND objsubid = 1"),
                          {"high": unsigned >> 32, "low": unsigned & 0xFFFFFFFF}).scalars().all()
    assert ended == [True]


def test_a_scheduler_whose_lock_session_ends_takes_the_lock_again_or_stops(db_url, db_engine, record, schedulers):
    scheduler = schedulers()
    assert scheduler.start()
    assert scheduler.aps.get_job("lock-check").trigger.interval == dt.timedelta(seconds=30)
    assert scheduler.check_lock() and scheduler.running
    if not db_url.startswith("postgresql"):
        return  # a flock lasts as long as the process: nothing on SQLite can take it away
    _end_lock_session(db_engine, scheduler.lock.key)
    assert scheduler.check_lock() and scheduler.running  # nobody else took it: taken again
    assert lock_for(db_engine, "test_app").acquire() is False
    _end_lock_session(db_engine, scheduler.lock.key)
    rival = lock_for(db_engine, "test_app")
    assert rival.acquire()
    try:
        assert scheduler.check_lock() is False
        wait_for(lambda: scheduler.aps is None)  # stopped, its threads joined
        assert record.runs("lock-check") == []  # the internal check is never recorded
    finally:
        rival.release()
