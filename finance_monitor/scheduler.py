"""The monitor's scheduler: its plan of jobs, run by the shared scheduler (``shared.scheduler``).

::

    plan = SchedulePlan(sources=(SourceJob("reuters", every=900),), detect_every=300, retrain_every=7 * 86400)
    scheduler = MonitorScheduler(engine, MonitorStore(engine), runner, plan)
    if scheduler.start():        # False when another process already runs the deployment's scheduler
        ...
    scheduler.shutdown()         # waits for running jobs, then releases the lock

The plan becomes jobs with fixed ids: ``source:<name>`` (the runner's ``poll_source(name)``),
``detect`` (``detect()``) and, when ``retrain_every`` is set, ``retrain`` (``retrain()``); each
returns an optional dict of counts. Everything else (job table, one scheduler per deployment,
coalescing, misfire grace, recording) is ``shared.scheduler.Scheduler``'s: every run, error,
miss and skip becomes an ``fm_job_runs`` row through ``MonitorStore.record_job_run`` for the
dashboard.

Upgrading from the version that kept the scheduler here: stored jobs then referred to
``finance_monitor.scheduled_jobs:run_source`` (and ``run_detect`` / ``run_retrain``), which no
longer exist. At the first start APScheduler cannot restore them, logs "Unable to restore job"
and deletes their rows, and the jobs are added again from the plan: their schedule restarts
from that start (no run is lost that would not have been coalesced into one anyway).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.engine import Engine

from shared.scheduler import Job, Scheduler, check_timing

from .store import MonitorStore

JOBS_TABLE = "fm_apscheduler_jobs"  # APScheduler creates it; not in tables.metadata (not ours to migrate)

__all__ = ["JOBS_TABLE", "MonitorScheduler", "Runner", "SchedulePlan", "SourceJob"]


class Runner(Protocol):
    def poll_source(self, source: str) -> dict | None: ...

    def detect(self) -> dict | None: ...

    def retrain(self) -> dict | None: ...


@dataclass(frozen=True)
class SourceJob:
    name: str
    every: float  # seconds between polls

    def __post_init__(self) -> None:
        if not self.name or self.every <= 0:
            raise ValueError(f"source job {self.name!r}: needs a name and a positive interval")


@dataclass(frozen=True)
class SchedulePlan:
    sources: tuple[SourceJob, ...] = ()
    detect_every: float = 300.0
    retrain_every: float | None = None  # None: no periodic retraining
    # A run later than this (process busy, suspended, restarting) is skipped and recorded as
    # missed; coalesce means only the newest of the piled-up runs is even considered.
    misfire_grace_time: int = 120
    max_workers: int = 4
    lock_check_every: float = 30.0  # how soon a lost lock (PostgreSQL restarted) is noticed
    store_retry_every: float = 10.0  # after a job-store (database) error, seconds before trying again

    def __post_init__(self) -> None:
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError("source names must be distinct: they are the job ids")
        if self.detect_every <= 0 or (self.retrain_every is not None and self.retrain_every <= 0):
            raise ValueError("detect_every and retrain_every must be positive")
        check_timing(**self.timing())  # a bad setting fails when the config is read, not at start

    def jobs(self) -> dict[str, Job]:
        """job id -> what it runs on the runner, and how often."""
        jobs = {f"source:{s.name}": Job("poll_source", s.every, (s.name,)) for s in self.sources}
        jobs["detect"] = Job("detect", self.detect_every)
        if self.retrain_every is not None:
            jobs["retrain"] = Job("retrain", self.retrain_every)
        return jobs

    def timing(self) -> dict:
        return {"misfire_grace_time": self.misfire_grace_time, "max_workers": self.max_workers,
                "lock_check_every": self.lock_check_every, "store_retry_every": self.store_retry_every}


class MonitorScheduler(Scheduler):
    def __init__(self, engine: Engine, store: MonitorStore, runner: Runner, plan: SchedulePlan, *,
                 name: str = "finance_monitor", table: str = JOBS_TABLE):
        super().__init__(engine, runner, plan.jobs(), name=name, table=table, record=store.record_job_run, **plan.timing())
        self.store, self.plan = store, plan
