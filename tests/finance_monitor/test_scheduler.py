"""The monitor's plan on the shared scheduler, SQLite and PostgreSQL: fixed job ids, runs in fm_job_runs, upgrades.

The scheduler's own behaviour (misses, skips, restarts, the lock) is tested in tests/shared/test_scheduler.py.
"""

import datetime as dt
import pickle
from pathlib import Path

import pytest
import sqlalchemy as sa

import finance_monitor
from finance_monitor.scheduler import JOBS_TABLE, MonitorScheduler, SchedulePlan, SourceJob
from finance_monitor.store import MonitorStore
from shared.scheduler import Job
from shared.storage import migrate
from tests.shared.test_scheduler import Runner as SharedRunner
from tests.shared.test_scheduler import wait_for

MIGRATIONS = Path(finance_monitor.__file__).parent / "migrations"
HOUR = 3600


class Runner(SharedRunner):
    """The monitor's runner interface on the shared scheduler tests' runner (calls recorded as "fetch" and "check")."""

    def poll_source(self, source):
        return self.fetch(source)

    def detect(self):
        return self.check()

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

    def make(runner=None, plan=None):
        made.append(MonitorScheduler(store.engine, store, runner or Runner(), plan or SchedulePlan(detect_every=HOUR)))
        return made[-1]

    yield make
    for scheduler in made:
        scheduler.shutdown(wait=True)


def runs(store, **filters):
    return list(reversed(store.job_runs(limit=500, **filters)))


def test_a_plan_is_a_job_per_source_detection_and_retraining():
    plan = SchedulePlan(sources=(SourceJob("wire", 60), SourceJob("blog", 900)), detect_every=300, retrain_every=86400)
    assert plan.jobs() == {"source:wire": Job("poll_source", 60, ("wire",)), "source:blog": Job("poll_source", 900, ("blog",)),
                           "detect": Job("detect", 300), "retrain": Job("retrain", 86400)}
    assert list(SchedulePlan().jobs()) == ["detect"]  # no sources, no retraining


def test_each_job_runs_and_every_run_is_a_job_run_row(store, schedulers):
    runner = Runner(check_error=ValueError("bucket 2026-05-04 has\nno baseline"))
    plan = SchedulePlan(sources=(SourceJob("wire", 0.2), SourceJob("blog", HOUR)), detect_every=0.3, retrain_every=HOUR)
    scheduler = schedulers(runner, plan)
    assert scheduler.start()
    wait_for(lambda: len(runs(store, job_id="source:wire")) >= 2 and runs(store, job_id="detect"))
    scheduler.shutdown()
    assert ("fetch", "blog") not in runner.calls and ("retrain",) not in runner.calls  # hourly: not yet
    wire = runs(store, job_id="source:wire")
    assert {r["outcome"] for r in wire} == {"ok"} and wire[0]["counts"] == {"new": 2, "duplicates": 1}
    assert all(r["scheduled_at"] <= r["started_at"] <= r["finished_at"] for r in wire)
    error = runs(store, job_id="detect")[0]
    assert error["outcome"] == "error" and error["detail"] == "ValueError: bucket 2026-05-04 has no baseline"
    with store.engine.connect() as c:
        ids = set(c.execute(sa.text(f"SELECT id FROM {JOBS_TABLE}")).scalars())
    assert ids == {"source:wire", "source:blog", "detect", "retrain"}


def test_jobs_are_stored_as_plain_strings_and_a_dropped_source_is_removed(schedulers):
    first = schedulers(plan=SchedulePlan(sources=(SourceJob("wire", HOUR), SourceJob("blog", HOUR)), detect_every=HOUR))
    assert first.start()
    job = first.aps.get_job("source:wire")
    assert job.args == ("finance_monitor", "source:wire", "poll_source", "wire") and job.misfire_grace_time == 120
    first.shutdown()
    second = schedulers(plan=SchedulePlan(sources=(SourceJob("wire", 2 * HOUR),), detect_every=HOUR))
    assert second.start()
    assert sorted(j["id"] for j in second.jobs()) == ["detect", "source:wire"]
    assert second.aps.get_job("source:wire").trigger.interval == dt.timedelta(hours=2)


def test_jobs_stored_by_the_version_before_the_shared_scheduler_are_replaced_at_start(store, schedulers):
    plan = SchedulePlan(sources=(SourceJob("wire", HOUR),), detect_every=HOUR)
    first = schedulers(plan=plan)
    assert first.start()
    first.shutdown()
    old = {"source:wire": ("finance_monitor.scheduled_jobs:run_source", ("finance_monitor", "wire")),
           "detect": ("finance_monitor.scheduled_jobs:run_detect", ("finance_monitor",))}
    with store.engine.begin() as c:  # rewrite the rows as that version stored them
        for job_id, (func, args) in old.items():
            state = pickle.loads(c.execute(sa.text(f"SELECT job_state FROM {JOBS_TABLE} WHERE id = :id"), {"id": job_id}).scalar_one())
            state.update(func=func, args=args)
            c.execute(sa.text(f"UPDATE {JOBS_TABLE} SET job_state = :state WHERE id = :id"), {"state": pickle.dumps(state), "id": job_id})
    runner = Runner()
    second = schedulers(runner, plan)
    assert second.start()
    assert {j.id: j.func_ref for j in second.aps.get_jobs(jobstore="default")} == {"source:wire": "shared.scheduler:run_job",
                                                                  "detect": "shared.scheduler:run_job"}
    second.run_now("detect")
    wait_for(lambda: runs(store, job_id="detect", outcome="ok"))


def test_schedule_plans_reject_clashing_or_empty_settings():
    with pytest.raises(ValueError, match="distinct"):
        SchedulePlan(sources=(SourceJob("a", 60), SourceJob("a", 30)))
    with pytest.raises(ValueError):
        SourceJob("a", 0)
    with pytest.raises(ValueError):
        SchedulePlan(detect_every=0)
    with pytest.raises(ValueError):
        SchedulePlan(misfire_grace_time=0)
