"""What the monitor's scheduler runs: the plan of jobs, and the thin job functions.

APScheduler's SQLAlchemyJobStore pickles each job's state (that is its design, not our
choice). To keep anything of ours out of those pickles, a stored job is a *textual*
reference to one of the module-level functions here (``finance_monitor.scheduled_jobs:run_source``)
plus plain string arguments; the live objects (the runner with its store, models and HTTP
pools) stay in this process's registry, keyed by the scheduler's name. Renaming these
functions or this module orphans stored jobs: APScheduler drops a job it cannot import
(logged), and the next start adds it again from the plan.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

UTC = dt.timezone.utc


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
        if self.misfire_grace_time < 1 or self.max_workers < 1 or min(self.lock_check_every, self.store_retry_every) <= 0:
            raise ValueError("misfire_grace_time and max_workers must be at least 1, lock_check_every and "
                             "store_retry_every positive")

    def jobs(self) -> dict[str, tuple[str, tuple, float]]:
        """job id -> (function reference, args, interval seconds)."""
        jobs = {f"source:{s.name}": (f"{__name__}:run_source", (s.name,), s.every) for s in self.sources}
        jobs["detect"] = (f"{__name__}:run_detect", (), self.detect_every)
        if self.retrain_every is not None:
            jobs["retrain"] = (f"{__name__}:run_retrain", (), self.retrain_every)
        return jobs


# --- job functions (see the module docstring for why they look like this) ---------------

_runners: dict[str, Runner] = {}
_started: dict[tuple[str, str], dt.datetime] = {}  # (scheduler, job id) -> when the running call began
_registry_lock = threading.Lock()


def register(scheduler: str, runner: Runner) -> bool:
    """Make ``runner`` what the jobs of ``scheduler`` call; False when that name already has one."""
    with _registry_lock:
        if scheduler in _runners:
            return False
        _runners[scheduler] = runner
        return True


def unregister(scheduler: str, runner: Runner) -> None:
    with _registry_lock:
        if _runners.get(scheduler) is runner:
            del _runners[scheduler]


def started_at(scheduler: str, job_id: str, default: dt.datetime) -> dt.datetime:
    """When the run of ``job_id`` that just ended began (``default`` when it never began)."""
    return _started.pop((scheduler, job_id), default)


def _call(scheduler: str, job_id: str, work: Callable[[Runner], dict | None]) -> dict | None:
    runner = _runners.get(scheduler)
    if runner is None:
        raise RuntimeError(f"no runner registered for scheduler {scheduler!r}")
    # One entry per job id is enough: max_instances=1 means one run of a job at a time.
    _started[(scheduler, job_id)] = dt.datetime.now(UTC)
    return work(runner)


def run_source(scheduler: str, source: str) -> dict | None:
    return _call(scheduler, f"source:{source}", lambda runner: runner.poll_source(source))


def run_detect(scheduler: str) -> dict | None:
    return _call(scheduler, "detect", lambda runner: runner.detect())


def run_retrain(scheduler: str) -> dict | None:
    return _call(scheduler, "retrain", lambda runner: runner.retrain())


def one_line(exc: BaseException | None) -> str:
    text = " ".join(str(exc).split()) if exc is not None else ""
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__
