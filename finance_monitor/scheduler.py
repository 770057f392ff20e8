"""The monitor's scheduler: APScheduler 3.x, jobs kept in the app database, one per deployment.

::

    plan = SchedulePlan(sources=(SourceJob("reuters", every=900),), detect_every=300, retrain_every=7 * 86400)
    scheduler = MonitorScheduler(engine, MonitorStore(engine), runner, plan)
    if scheduler.start():        # False when another process already runs the deployment's scheduler
        ...
    scheduler.shutdown()         # waits for running jobs, then releases the lock

Jobs have fixed ids (``source:<name>``, ``detect``, ``retrain``), are added with
``replace_existing=True`` and run with ``coalesce=True`` (runs piled up while the process was
busy or down collapse into one), ``max_instances=1`` and an explicit misfire grace. Every
run, error, miss and skip becomes a ``fm_job_runs`` row (``MonitorStore.record_job_run``)
for the dashboard. A job that raises is recorded and the scheduler carries on.

The job functions (``scheduled_jobs.py``) are thin: they take plain strings and call the
*runner* registered by the scheduler that started them (an object with ``poll_source(name)``,
``detect()`` and ``retrain()``, each returning an optional dict of counts). The pipeline
behind the runner is wired elsewhere.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from apscheduler.events import (EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED,
                                JobExecutionEvent, JobSubmissionEvent)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from sqlalchemy.engine import Engine

from shared.storage import make_engine

from .scheduled_jobs import Runner, SchedulePlan, SourceJob, one_line, register, started_at, unregister
from .scheduler_lock import lock_for
from .store import MonitorStore

log = logging.getLogger(__name__)
UTC = dt.timezone.utc
JOBS_TABLE = "fm_apscheduler_jobs"  # APScheduler creates it; not in tables.metadata (not ours to migrate)
LOCK_CHECK = "lock-check"  # internal job, kept in memory and out of fm_job_runs


__all__ = ["JOBS_TABLE", "MonitorScheduler", "Runner", "SchedulePlan", "SourceJob"]


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


class MonitorScheduler:
    def __init__(self, engine: Engine, store: MonitorStore, runner: Runner, plan: SchedulePlan, *,
                 name: str = "finance_monitor", table: str = JOBS_TABLE):
        self.engine, self.store, self.runner, self.plan = engine, store, runner, plan
        self.name, self.table = name, table
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
        if not register(self.name, self.runner):  # same name, same process, and somehow past the lock
            self._lock.release()
            log.warning("scheduler %r not started: this process already runs one by that name", self.name)
            return False
        try:
            self._aps = self._build()
            self._aps.start(paused=True)  # sync the job table before anything can run
            self._sync_jobs()
            self._aps.add_job(self.check_lock, "interval", seconds=self.plan.lock_check_every, id=LOCK_CHECK,
                              jobstore="local", replace_existing=True)
            self._aps.resume()
        except BaseException:
            self._stop(wait=False)
            raise
        log.info("scheduler %r started with jobs %s", self.name, ", ".join(self.plan.jobs()))
        return True

    def _build(self) -> BackgroundScheduler:
        # The job store gets an engine of its own: its shutdown() disposes the engine it holds,
        # which must not be the pool the app's requests use.
        store = SQLAlchemyJobStore(engine=make_engine(self.engine.url.render_as_string(hide_password=False)),
                                   tablename=self.table)
        aps = _SteadyScheduler(
            # "local" holds the lock check: a bound method, so in memory, never in the pickled table.
            jobstores={"default": store, "local": MemoryJobStore()}, executors={"default": ThreadPoolExecutor(self.plan.max_workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": self.plan.misfire_grace_time},
            jobstore_retry_interval=self.plan.store_retry_every, timezone=UTC)
        aps.add_listener(self._on_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        return aps

    def _sync_jobs(self) -> None:
        planned = self.plan.jobs()
        stored = {job.id: job for job in self._aps.get_jobs(jobstore="default")}
        for job in stored.values():
            if job.id not in planned:  # a source dropped from the config: stop polling it
                log.info("removing job %s: no longer configured", job.id)
                job.remove()
        for job_id, (func, args, every) in planned.items():
            # Same interval as stored: keep the stored next run, so a restart neither delays
            # the job by a whole interval nor hides runs missed while the process was down
            # (coalesced into one: run if within the misfire grace, else recorded as missed).
            old = stored.get(job_id)
            keep = ({"next_run_time": old.next_run_time}
                    if old is not None and old.next_run_time and getattr(old.trigger, "interval", None) == dt.timedelta(seconds=every)
                    else {})
            self._aps.add_job(func, "interval", args=(self.name, *args), seconds=every, id=job_id, name=job_id,
                              replace_existing=True, **keep)

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
        """Run a job at the next tick (the dashboard's "run now"); its interval carries on afterwards."""
        self._aps.modify_job(job_id, next_run_time=dt.datetime.now(UTC))

    def jobs(self) -> list[dict]:
        """Job ids and next run times, for the dashboard."""
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
            unregister(self.name, self.runner)
            self._lock.release()

    def __enter__(self) -> "MonitorScheduler":
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
                self.store.record_job_run(event.job_id, "missed", started_at=now, scheduled_at=event.scheduled_run_times[-1],
                                          detail="skipped: the previous run was still going (max_instances=1)")
                return
            scheduled = event.scheduled_run_time
            if event.code == EVENT_JOB_MISSED:
                late = (now - scheduled).total_seconds()
                self.store.record_job_run(event.job_id, "missed", started_at=now, scheduled_at=scheduled,
                                          detail=f"missed by {late:.0f} s (misfire grace {self.plan.misfire_grace_time} s)")
                return
            started = started_at(self.name, event.job_id, scheduled)
            if event.code == EVENT_JOB_ERROR:
                log.error("job %s failed: %s\n%s", event.job_id, one_line(event.exception), event.traceback or "")
                self.store.record_job_run(event.job_id, "error", started_at=started, finished_at=now, scheduled_at=scheduled,
                                          detail=one_line(event.exception))
                return
            counts = event.retval if isinstance(event.retval, dict) else {}
            self.store.record_job_run(event.job_id, "ok", started_at=started, finished_at=now, scheduled_at=scheduled,
                                      counts={k: v for k, v in counts.items() if isinstance(v, (int, float, str, bool))})
        except Exception:  # the job ran; failing to write its row must not stop the scheduler thread
            log.exception("could not record job event %s for %s", event.code, event.job_id)
