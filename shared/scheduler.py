"""An app's periodic jobs: APScheduler 3.x, jobs kept in the app database, one scheduler per deployment.

::

    jobs = {"retrain": Job("retrain", every=86400), "source:wire": Job("poll_source", every=900, args=("wire",))}
    scheduler = Scheduler(engine, runner, jobs, name="recommender", table="rec_apscheduler_jobs",
                          record=store.record_job_run)
    if scheduler.start():        # False when another process already runs this deployment's scheduler
        ...
    scheduler.shutdown()         # waits for running jobs, then releases the lock

A job is a *method name* on the ``runner`` (the app's object that does the work) plus plain
string arguments: at each run the scheduler calls ``getattr(runner, method)(*args)``, which
may return a dict of counts. Jobs have the fixed ids the app gives them, are added with
``replace_existing=True`` (a restart never duplicates them; a stored id the app no longer
plans is removed) and run with ``coalesce=True`` (runs piled up while the process was busy
or down collapse into one), ``max_instances=1`` and an explicit misfire grace. Every run,
error, miss and skip is handed to ``record``::

    record(job_id, status, *, started_at, scheduled_at, finished_at=None, detail="", counts=None)

with ``status`` "ok" (``counts``: the plain values of the returned dict), "error" (``detail``:
the exception in one line) or "missed" (``detail`` says why: too late for the misfire grace,
or the previous run still going). A job that raises is recorded and the scheduler carries on.

Why the stored jobs look the way they do: APScheduler's SQLAlchemyJobStore pickles each
job's state (its design, not our choice). To keep anything of ours out of those pickles, every
stored job is the *textual* reference to one module-level function, :func:`run_job` here
(``shared.scheduler:run_job``), with plain strings for arguments (scheduler name, job id,
method name, the job's args); the live runner (with its store, models and HTTP pools) stays
in this process's registry, keyed by the scheduler's name. Renaming that function or this
module orphans stored jobs: APScheduler drops a job it cannot import (logged, the row
deleted) when the job table is read, and the next start adds it again from the app's jobs.

The lock (one scheduler per deployment, ``shared.scheduler_lock``) is checked every
``lock_check_every`` seconds: a PostgreSQL restart ends the lock's session, so the scheduler
takes the lock again, or stops when another one got it first.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from sqlalchemy.engine import Engine

from shared.scheduler_lock import lock_for
from shared.storage import make_engine

log = logging.getLogger(__name__)
UTC = dt.UTC
LOCK_CHECK = "lock-check"  # internal job id, kept in memory and never recorded

Record = Callable[..., object]  # record(job_id, status, *, started_at, scheduled_at, finished_at=None, detail="", counts=None)

__all__ = ["Job", "Scheduler", "check_timing", "run_job"]


@dataclass(frozen=True)
class Job:
    """What one job id runs: ``getattr(runner, method)(*args)`` every ``every`` seconds."""

    method: str
    every: float  # seconds between runs
    args: tuple[str, ...] = ()  # plain strings: they are stored (pickled) in the job table

    def __post_init__(self) -> None:
        if not (isinstance(self.method, str) and self.method.isidentifier() and not self.method.startswith("_")):
            raise ValueError(f"job method {self.method!r}: must be the name of a public method of the runner")
        if not self.every > 0:
            raise ValueError(f"job {self.method!r}: needs a positive interval, not {self.every!r}")
        if not (isinstance(self.args, tuple) and all(isinstance(a, str) for a in self.args)):
            raise ValueError(f"job {self.method!r}: args must be a tuple of strings, not {self.args!r}")


def check_timing(*, misfire_grace_time: int, max_workers: int, lock_check_every: float, store_retry_every: float) -> None:
    """Raise ValueError for settings the scheduler cannot run with (apps call it when reading their config)."""
    if misfire_grace_time < 1 or max_workers < 1 or min(lock_check_every, store_retry_every) <= 0:
        raise ValueError("misfire_grace_time and max_workers must be at least 1, lock_check_every and "
                         "store_retry_every positive")


class _SteadyScheduler(BackgroundScheduler):
    """Two gaps of APScheduler 3.11's BackgroundScheduler, closed here:

    - it guards only the job store's get_due_jobs: a database error in update_job or
      get_next_run_time (PostgreSQL restarting, SQLite busy past its timeout) escapes
      _process_jobs and ends the scheduler's thread for good, while ``running`` still says
      True. Treat any such error like the guarded one: log it, try again a little later;
    - shutdown() wakes its thread *after* stopping the executors, and the thread makes one
      more pass over the due jobs: submitting fails, yet each due job's next run time is
      moved on and stored, so a run due at shutdown is lost without a "missed" record. No
      pass once stopped (checked under the job-store lock, which shutdown takes too).
    """

    def _process_jobs(self):
        with self._jobstores_lock:
            if self.state == STATE_STOPPED:
                return None
            try:
                return super()._process_jobs()
            except Exception:
                self._logger.exception("job store error while processing jobs; retrying in %s s",
                                       self.jobstore_retry_interval)
                return self.jobstore_retry_interval


class Scheduler:
    def __init__(self, engine: Engine, runner: object, jobs: Mapping[str, Job], *, name: str, table: str, record: Record,
                 misfire_grace_time: int = 120, max_workers: int = 4, lock_check_every: float = 30.0,
                 store_retry_every: float = 10.0):
        if not name or not table:
            raise ValueError("a scheduler needs a name (its lock and registry key) and a job table")
        for job_id, job in jobs.items():
            if not job_id or job_id == LOCK_CHECK or not isinstance(job, Job):
                raise ValueError(f"job {job_id!r}: needs a non-empty id other than {LOCK_CHECK!r} and a Job")
            if not callable(getattr(runner, job.method, None)):
                raise ValueError(f"job {job_id!r}: the runner has no method {job.method!r}")
        check_timing(misfire_grace_time=misfire_grace_time, max_workers=max_workers,
                     lock_check_every=lock_check_every, store_retry_every=store_retry_every)
        self.engine, self.runner, self.planned, self.record = engine, runner, dict(jobs), record
        self.name, self.table = name, table
        self.misfire_grace_time, self.max_workers = misfire_grace_time, max_workers
        self.lock_check_every, self.store_retry_every = lock_check_every, store_retry_every
        self._lock = lock_for(engine, name)
        self._aps: BackgroundScheduler | None = None

    @property
    def aps(self) -> BackgroundScheduler | None:
        """The APScheduler scheduler underneath while running (for tests and one-off jobs)."""
        return self._aps

    @property
    def lock(self):
        return self._lock

    @property
    def running(self) -> bool:
        return self._aps is not None and self._aps.running

    def start(self) -> bool:
        """Start unless another scheduler of this deployment runs; True when this one runs."""
        if self.running:
            return True
        if not self._lock.acquire():
            log.warning("scheduler %r not started: another one holds the %s", self.name, self._lock.description)
            return False
        if not _register(self.name, self.runner):  # same name, same process, and somehow past the lock
            self._lock.release()
            log.warning("scheduler %r not started: this process already runs one by that name", self.name)
            return False
        try:
            self._aps = self._build()
            self._aps.start(paused=True)  # sync the job table before anything can run
            self._sync_jobs()
            self._aps.add_job(self.check_lock, "interval", seconds=self.lock_check_every, id=LOCK_CHECK,
                              jobstore="local", replace_existing=True)
            self._aps.resume()
        except BaseException:
            self._stop(wait=False)
            raise
        log.info("scheduler %r started with jobs %s", self.name, ", ".join(self.planned))
        return True

    def _build(self) -> BackgroundScheduler:
        # The job store gets an engine of its own: its shutdown() disposes the engine it holds,
        # which must not be the pool the app's requests use.
        store = SQLAlchemyJobStore(engine=make_engine(self.engine.url.render_as_string(hide_password=False)),
                                   tablename=self.table)
        aps = _SteadyScheduler(
            # "local" holds the lock check: a bound method, so in memory, never in the pickled table.
            jobstores={"default": store, "local": MemoryJobStore()}, executors={"default": ThreadPoolExecutor(self.max_workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": self.misfire_grace_time},
            jobstore_retry_interval=self.store_retry_every, timezone=UTC)
        aps.add_listener(self._on_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        return aps

    def _sync_jobs(self) -> None:
        # Reading the table also drops (and logs) stored jobs whose function no longer imports,
        # such as those an older version stored: they are added again just below.
        stored = {job.id: job for job in self._aps.get_jobs(jobstore="default")}
        for job in stored.values():
            if job.id not in self.planned:  # e.g. a source dropped from the config: stop running it
                log.info("removing job %s: no longer configured", job.id)
                job.remove()
        for job_id, job in self.planned.items():
            # Same interval as stored: keep the stored next run, so a restart neither delays
            # the job by a whole interval nor hides runs missed while the process was down
            # (coalesced into one: run if within the misfire grace, else recorded as missed).
            old = stored.get(job_id)
            keep = ({"next_run_time": old.next_run_time}
                    if old is not None and old.next_run_time and getattr(old.trigger, "interval", None) == dt.timedelta(seconds=job.every)
                    else {})
            self._aps.add_job(RUN_JOB, "interval", args=(self.name, job_id, job.method, *job.args), seconds=job.every,
                              id=job_id, name=job_id, replace_existing=True, **keep)

    def check_lock(self) -> bool:
        """Still the deployment's one scheduler? A PostgreSQL restart ends the lock's session and
        so the lock: take it again, or, when another scheduler got it first, stop this one."""
        if self._lock.held():
            return True
        self._lock.release()
        if self._lock.acquire():
            log.warning("scheduler %r lost its %s (database session ended) and took it again", self.name,
                        self._lock.description)
            return True
        log.error("scheduler %r lost its %s to another scheduler: stopping this one", self.name, self._lock.description)
        # Not from this job's own thread: shutting down joins the scheduler's threads.
        threading.Thread(target=self._stop, kwargs={"wait": False}, name=f"{self.name}-stop", daemon=True).start()
        return False

    def run_now(self, job_id: str) -> None:
        """Run a job at the next tick (a dashboard's "run now"); its interval carries on afterwards."""
        self._aps.modify_job(job_id, next_run_time=dt.datetime.now(UTC))

    def jobs(self) -> list[dict]:
        """Job ids and next run times, for a dashboard."""
        jobs = self._aps.get_jobs(jobstore="default") if self._aps else []
        return [{"id": j.id, "next_run_at": j.next_run_time} for j in jobs]

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking new runs, wait for running ones (``wait``), then release the lock."""
        if self._aps is None:
            return
        self._stop(wait=wait)
        log.info("scheduler %r stopped", self.name)

    def _stop(self, wait: bool) -> None:
        try:
            if self._aps is not None and self._aps.running:
                self._aps.shutdown(wait=wait)
        finally:
            self._aps = None
            _unregister(self.name, self.runner)
            self._lock.release()

    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, *_exc) -> None:
        self.shutdown()

    # --- recording ----------------------------------------------------------------------

    def _on_event(self, event: JobExecutionEvent | JobSubmissionEvent) -> None:
        if event.jobstore == "local":
            return
        now = dt.datetime.now(UTC)
        try:
            if event.code == EVENT_JOB_MAX_INSTANCES:
                self.record(event.job_id, "missed", started_at=now, scheduled_at=event.scheduled_run_times[-1],
                            detail="skipped: the previous run was still going (max_instances=1)")
                return
            scheduled = event.scheduled_run_time
            if event.code == EVENT_JOB_MISSED:
                late = (now - scheduled).total_seconds()
                self.record(event.job_id, "missed", started_at=now, scheduled_at=scheduled,
                            detail=f"missed by {late:.0f} s (misfire grace {self.misfire_grace_time} s)")
                return
            started = _started.pop((self.name, event.job_id), scheduled)  # scheduled: it never began
            if event.code == EVENT_JOB_ERROR:
                log.error("job %s failed: %s\n%s", event.job_id, one_line(event.exception), event.traceback or "")
                self.record(event.job_id, "error", started_at=started, finished_at=now, scheduled_at=scheduled,
                            detail=one_line(event.exception))
                return
            counts = event.retval if isinstance(event.retval, dict) else {}
            self.record(event.job_id, "ok", started_at=started, finished_at=now, scheduled_at=scheduled,
                        counts={k: v for k, v in counts.items() if isinstance(v, (int, float, str, bool))})
        except Exception:  # the job ran; failing to record it must not stop the scheduler thread
            log.exception("could not record job event %s for %s", event.code, event.job_id)


def one_line(exc: BaseException | None) -> str:
    text = " ".join(str(exc).split()) if exc is not None else ""
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__


# --- the one stored job function (see the module docstring for why it looks like this) ---

_runners: dict[str, object] = {}
_started: dict[tuple[str, str], dt.datetime] = {}  # (scheduler, job id) -> when the running call began
_registry_lock = threading.Lock()


def _register(scheduler: str, runner: object) -> bool:
    """Make ``runner`` what the jobs of ``scheduler`` call; False when that name already has one."""
    with _registry_lock:
        if scheduler in _runners:
            return False
        _runners[scheduler] = runner
        return True


def _unregister(scheduler: str, runner: object) -> None:
    with _registry_lock:
        if _runners.get(scheduler) is runner:
            del _runners[scheduler]


def run_job(scheduler: str, job_id: str, method: str, *args: str) -> dict | None:
    """What every stored job calls: ``method`` of the runner registered under ``scheduler``."""
    runner = _runners.get(scheduler)
    if runner is None:
        raise RuntimeError(f"no runner registered for scheduler {scheduler!r}")
    # One entry per job id is enough: max_instances=1 means one run of a job at a time.
    _started[(scheduler, job_id)] = dt.datetime.now(UTC)
    return getattr(runner, method)(*args)


RUN_JOB = f"{__name__}:{run_job.__name__}"  # the textual reference stored with every job
