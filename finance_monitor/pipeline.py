"""The monitor, wired: sources → ingest → sentiment + topics → store; detection → alerts → channels.

:class:`Monitor` is what the scheduler runs (it is the *runner* of ``scheduler.MonitorScheduler``:
``poll_source(name)``, ``detect()``, ``retrain()``), what ``troika finance scrape-once | run``
drive, and what the dashboard reads (``.store``, ``.topics``, ``.bucket``, ``.scheduler``,
``.config``, ``.admin_token``, ``.run_detection()``)::

    monitor = Monitor.from_config(load_config())      # [finance_monitor] of troika.toml (see settings.py)
    monitor.poll_source("demo")       # {"outcome": "ok", "fetched": 58, "new": 58, "duplicates": 0, "scored": 58}
    monitor.detect()                  # {"windows": 240, "fired": 2, "resolved": 0, "firing": 2}
    monitor.start()                   # the scheduler: one job per source, "detect", optionally "retrain"
    monitor.shutdown()

It orchestrates only; each step lives in its own module. One poll: fetch with the source's stored
ETag / Last-Modified (``ingest/poll.py``), normalise and store the new articles (``ingest.normalise``,
``MonitorStore.add_articles``: deduplicated, idempotent), then score every article still without a
score in batches and assign its topics (``MonitorStore.save_scores``: a batch in one transaction, so
an interrupted batch is simply processed again). A poll that fails (timeout, huge response, HTTP
error) or a feed that is skipped (malformed) is recorded in the source's state and raises
:class:`SourceProblem`, which the scheduler records as the job run's error; the job stays scheduled.

Detection is ``alerting.detection_job.DetectionJob``; which model serves, and how it is made and loaded, is
``models.py``; the retraining job (``retrain()``, ``retraining.py``) learns analysts' sentiment
corrections, and a promoted version serves this process's next batch at once and other processes'
through their ``ActiveWatcher``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import finance_monitor
from shared.artifacts import ActiveWatcher, is_onnx_export
from shared.config import Config
from shared.errors import ConfigError, TroikaError
from shared.storage import engine_for, migrate

from .alerting.channel_config import build_channels
from .alerting.channels import resending
from .alerting.detection_job import DetectionJob
from .ingest.articles import scoring_body, topic_text
from .ingest.normalise import normalise
from .ingest.poll import ReplayPoller, poll_feed, poll_page
from .models import load_sentiment, load_version, model_store, sentiment_source, topic_encoder
from .scheduler import MonitorScheduler, SchedulePlan, SourceJob
from .scoring.topics import GENERAL_TOPIC, TopicAssigner
from .settings import SECTION, MonitorSettings, load_settings
from .store import MonitorStore, utcnow

log = logging.getLogger(__name__)
MIGRATIONS = Path(finance_monitor.__file__).parent / "migrations"
VERSION_TABLE = "finance_monitor_alembic_version"


class SourceProblem(TroikaError):
    """A poll that stored nothing new because the source failed or its document was unusable."""


@dataclasses.dataclass
class PollReport:
    source: str
    outcome: str  # ok | not_modified | skipped | error
    fetched: int = 0
    new: int = 0
    duplicates: int = 0
    scored: int = 0
    detail: str | None = None

    def counts(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "source" and v is not None}

    def summary(self) -> str:
        text = f"{self.source}: {self.outcome}, {self.fetched} fetched, {self.new} new, {self.duplicates} duplicate(s), {self.scored} scored"
        return text + (f" ({self.detail})" if self.detail else "")


class Monitor:
    def __init__(self, settings: MonitorSettings, store: MonitorStore, *, sentiment=None, model_version: str = "",
                 assigner: TopicAssigner | None = None, channels: Sequence | None = None, config: dict | None = None,
                 clock: Callable[[], dt.datetime] = utcnow, scheduler_name: str = "finance_monitor"):
        self.settings = settings
        self.store = store
        self.sentiment = sentiment  # a SentimentModel; None: articles wait unscored
        self.model_version = model_version or "unknown"
        self.topics = list(settings.topics)
        self.assigner = assigner or TopicAssigner(self.topics, threshold=None)
        self.bucket = settings.bucket
        self.rules = settings.rules
        self.policy = settings.policy
        self.channels = list(channels) if channels is not None else build_channels(list(settings.channels))
        for channel in resending(self.channels):
            channel.use_interval(settings.detect_every)  # each detection pass re-sends: endsAt spans a few
        self.config = dict(config or {})
        self.admin_token = settings.admin_token
        self.clock = clock
        self.scheduler = None  # a MonitorScheduler once start() ran
        self.scheduler_name = scheduler_name
        self.suite = Config()  # the suite configuration (var_dir, base_model); from_config sets it
        self._replay = ReplayPoller(self.bucket)
        self._detect_lock = threading.Lock()
        self._score_lock = threading.Lock()
        self._retrain_lock = threading.Lock()
        self.watcher: ActiveWatcher | None = None  # set when prepare() loaded the model (see retrain)

    @classmethod
    def from_config(cls, config: Config, *, sentiment=None, model_version: str = "", load_models: bool = True,
                    progress: bool = True, clock: Callable[[], dt.datetime] = utcnow, base: Path | None = None) -> Monitor:
        """The monitor of a suite configuration: settings checked, database migrated, then (``load_models``)
        its sentiment model (trained from the demo data when none is configured) and topic encoder."""
        section = config.section("finance_monitor")
        settings = load_settings(section, base=base, admin_token=config.admin_token)
        engine = engine_for(config.database_url)
        monitor = cls(settings, MonitorStore(engine, clock=clock), sentiment=sentiment, model_version=model_version,
                      config=section, clock=clock)
        monitor.suite = config
        if load_models:
            monitor.prepare(progress=progress)
        return monitor

    def prepare(self, *, progress: bool = True) -> None:
        """Migrate the database and load what scoring needs; slow the first time (the demo model trains)."""
        migrate(self.store.engine, MIGRATIONS, VERSION_TABLE)
        config = self.suite
        if self.sentiment is None:
            source = sentiment_source(self.settings, config.var_dir, base_model=config.base_model, progress=progress)
            store = self._model_store(source)
            self.sentiment, self.model_version, active = load_sentiment(store, source)
            # Another process (troika finance run, or the server running the scheduler) may promote a
            # retrained version; pick it up without a restart.
            self.watcher = ActiveWatcher(store, self._use_version, current=active).start()
        if self.settings.topic_threshold is not None and self.assigner.threshold is None:
            self.assigner = TopicAssigner(self.topics, topic_encoder(config), threshold=self.settings.topic_threshold)

    @property
    def ready(self) -> bool:
        return self.sentiment is not None

    @property
    def topic_names(self) -> list[str]:
        return [GENERAL_TOPIC] + [t.name for t in self.topics]

    # ---- polling ---------------------------------------------------------------------------

    def poll(self, name: str) -> PollReport:
        """Poll one source once and process what it gave; never raises for what a source does."""
        source = self.settings.source(name)
        now = self.clock()
        state = self.store.source_state(name)
        cursor = state.get("cursor")
        if source.kind == "rss":
            result = poll_feed(source.url, name, etag=state.get("etag"), last_modified=state.get("last_modified"), limits=self.settings.fetch)
        elif source.kind == "page":
            result = poll_page(source.url, name, limits=self.settings.fetch)
        else:  # replay: the rows of a local file whose time, shifted onto the wall clock, has come (see settings.py)
            result, cursor = self._replay.poll(name, source.path, cursor, now)
        ok = result.outcome in ("ok", "not_modified")
        self.store.save_source_state(
            name, etag=result.etag, last_modified=result.last_modified, last_fetch_at=now,
            last_ok_at=now if ok else state.get("last_ok_at"), last_status=result.outcome,
            last_error=None if ok else (result.detail or result.outcome), cursor=cursor)
        ingested = self.store.add_articles(normalise(raw, fetched_at=now) for raw in result.articles)
        scored = self.process_pending()
        detail = f"{result.error_kind}: {result.detail}" if result.error_kind else result.detail
        report = PollReport(name, result.outcome, len(result.articles), len(ingested.new_ids), sum(ingested.duplicates.values()),
                            scored, detail)
        log.info("poll %s", report.summary())
        return report

    def poll_source(self, name: str) -> dict:
        """The scheduler's source job: :meth:`poll`, raising :class:`SourceProblem` when the source failed."""
        report = self.poll(name)
        if report.outcome in ("error", "skipped"):
            raise SourceProblem(f"source {name}: {report.outcome}: {report.detail or 'no detail'}")
        return report.counts()

    def process_pending(self) -> int:
        """Score and assign topics to every stored article still without a score; returns how many."""
        if self.sentiment is None:
            return 0
        done = 0
        with self._score_lock:
            while True:
                batch = self.store.unscored(self.settings.batch_size)
                if not batch:
                    return done
                scores = self.sentiment.score_articles([r["title"] for r in batch], [scoring_body(r["title"], r["text"]) for r in batch])
                assignments = self.assigner.assign_many([topic_text(r["title"], r["text"]) for r in batch],
                                                        [r["tickers"] or () for r in batch])
                self.store.save_scores(
                    [(r["id"], s.label, s.score, s.probabilities, self.model_version) for r, s in zip(batch, scores)],
                    [(r["id"], t, m, v) for r, found in zip(batch, assignments) for t, m, v in found])
                done += len(batch)

    # ---- detection -------------------------------------------------------------------------

    def detect(self, now: dt.datetime | None = None) -> dict:
        """The scheduler's detection job: judge the complete buckets since the last pass; save and send alerts."""
        job = DetectionJob(self.store, self.topic_names, self.bucket, self.rules, self.policy, self.channels,
                           self.settings.dashboard_url, self.server_url())
        with self._detect_lock:
            return job.run(now or self.clock())

    run_detection = detect

    def server_url(self) -> str:
        """This server's dashboard, for Alertmanager's generatorURL when no dashboard_url is set."""
        host = self.suite.host
        if host in ("0.0.0.0", "::", ""):
            host = "localhost"  # listening everywhere: a wildcard address is no link
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.suite.port}/finance/"

    # ---- retraining ------------------------------------------------------------------------

    def retrain(self, *, tolerance: float = 0.0) -> dict:
        """The optional retraining job: learn the analysts' sentiment corrections (see retraining.py).

        Without a correction no promoted model has learned, nothing is trained. A promoted model serves this
        process's next batch at once, and other processes through their watchers; its corrections are then
        marked learned. ``tolerance``: how much worse (held-out accuracy) a candidate may be and still win."""
        pending = self.store.unlearned_corrections()
        if not pending:
            return {"status": "nothing to learn"}
        from .retraining import learn_corrections  # shared.continual loads torch: only when a retrain runs

        config = self.suite
        with self._retrain_lock:
            rows = self.store.corrections()
            source = sentiment_source(self.settings, config.var_dir, base_model=config.base_model, progress=False)
            if is_onnx_export(source):
                raise ConfigError(f"{SECTION}.sentiment_model: {source} is an ONNX export, which cannot be trained further; "
                                  "point it at the model directory it was exported from")
            outcome = learn_corrections(self._model_store(source), source, rows, tolerance=tolerance)
            result = outcome.result
            if result is not None:
                log.info("retrain: %s", result.summary())
            if result is not None and result.promoted:
                self._use_version(result.version)
                if self.watcher is not None:
                    self.watcher.current = result.version  # loaded already: the watcher need not load it again
                self.store.mark_learned(max(r["id"] for r in rows))
        return outcome.report(new=pending)

    def _model_store(self, source: Path | None = None):
        """The store of versions retrained from ``source`` (default: the model this monitor starts from)."""
        config = self.suite
        source = source or sentiment_source(self.settings, config.var_dir, base_model=config.base_model, progress=False)
        return model_store(source, config.var_dir)

    def _use_version(self, version: Path) -> None:
        """Serve a retrained version from the next scoring batch on (a batch in progress finishes with the old one)."""
        sentiment, label = load_version(version)
        with self._score_lock:
            self.sentiment, self.model_version = sentiment, label
        log.info("sentiment model %s now serves", label)

    # ---- the scheduler ---------------------------------------------------------------------

    def plan(self) -> SchedulePlan:
        return SchedulePlan(sources=tuple(SourceJob(s.name, s.interval) for s in self.settings.sources),
                            detect_every=self.settings.detect_every, retrain_every=self.settings.retrain_every,
                            misfire_grace_time=self.settings.misfire_grace)

    def catch_up(self) -> None:
        """Poll the local (replay) sources once and run a detection pass: the demo's first screen."""
        for source in self.settings.sources:
            if source.kind == "replay":
                try:
                    self.poll(source.name)
                except Exception:
                    log.exception("first poll of %s failed", source.name)
        self.detect()

    def start(self) -> bool:
        """Start the scheduler (one per deployment); False when another process runs it."""
        if self.scheduler is None:
            self.scheduler = MonitorScheduler(self.store.engine, self.store, self, self.plan(), name=self.scheduler_name)
        return self.scheduler.start()

    def shutdown(self, wait: bool = True) -> None:
        if self.watcher is not None:
            self.watcher.stop()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=wait)
