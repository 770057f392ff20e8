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

One poll: fetch with the source's stored ETag / Last-Modified (``poll.py``), normalise and store
the new articles (``ingest.normalise``, ``MonitorStore.add_articles``: deduplicated, idempotent),
then score every article still without a score in batches and assign its topics; a batch's topics and
scores are written in one transaction, so an interrupted batch is simply processed again.
A poll that fails (timeout, huge response, HTTP error) or a feed that is skipped (malformed) is
recorded in the source's state and raises :class:`SourceProblem`, which the scheduler records as
the job run's error; the job stays scheduled.

One detection pass (``detection.detect_windows``, the code the replay uses too): the complete
buckets since the last pass, each tested against its rolling baseline, fed to the
:class:`~finance_monitor.alert_lifecycle.AlertBook` whose state lives in ``fm_state``; alerts are
saved (``fm_alerts``) and their events sent to the channels (``fm_deliveries``), except those of an
alert a person silenced on the dashboard (``silenced_until`` still ahead). Only complete
buckets are tested: an hour is judged once it is over.

The retraining job (``retrain()``, ``retraining.py``) learns analysts' sentiment corrections; a promoted
version serves this process's next batch at once and other processes' through their ``ActiveWatcher``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import sqlalchemy as sa

import finance_monitor
from shared.artifacts import MANIFEST, ActiveWatcher
from shared.cli import is_onnx_export
from shared.config import Config
from shared.datafiles import RowReport
from shared.errors import ConfigError, TroikaError
from shared.storage import engine_for, migrate, upsert

from .alert_lifecycle import Alert, AlertBook, AlertEvent
from .articles import scoring_body, topic_text
from .buckets import ScoredItem, bucket_start
from .channel_config import build_channels
from .channels import alert_id_for, dispatch, refresh, resending
from .detection import detect_windows, rules_key
from .ingest import normalise
from .poll import PollResult, poll_feed, poll_page
from .scheduler import MonitorScheduler, SchedulePlan, SourceJob
from .settings import DEMO_DIR, SECTION, MonitorSettings, Source, load_settings
from .sources import StreamReplay
from .store import MonitorStore, utcnow
from .tables import article_topics, articles
from .topics import GENERAL_TOPIC, TopicAssigner

log = logging.getLogger(__name__)
PACKAGE = Path(finance_monitor.__file__).parent
MIGRATIONS = PACKAGE / "migrations"
VERSION_TABLE = "finance_monitor_alembic_version"
BOOK_STATE = "alert_book"
FIRST_LOOKBACK = 48  # buckets a first detection pass looks back over
MAX_CATCHUP = 7 * 24  # buckets a pass catches up after downtime; older windows are not re-judged
EVIDENCE_HEADLINES = 5


class SourceProblem(TroikaError):
    """A poll that stored nothing new because the source failed or its document was unusable."""


# ---- the sentiment model -------------------------------------------------------------------


def serving_dir(path: Path) -> Path:
    """The directory to serve from: ``path`` if it is an ONNX export, else ``path-onnx`` when that exists, else ``path``."""
    path = Path(path)
    if is_onnx_export(path):
        return path
    onnx = path.with_name(path.name + "-onnx")
    return onnx if (onnx / MANIFEST).is_file() else path


def demo_model_dir(var_dir: Path) -> Path:
    """Where the demo sentiment model trained from ``demo/sentiment.csv`` lives (named by the file's digest)."""
    digest = hashlib.sha256((DEMO_DIR / "sentiment.csv").read_bytes()).hexdigest()[:12]
    return Path(var_dir) / "finance_monitor" / f"demo-sentiment-{digest}"


def ensure_demo_model(var_dir: Path, *, base_model: str | None = None, progress: bool = True) -> Path:
    """The demo model directory, trained in fast mode (seconds) when it is missing."""
    from shared.finetune_config import FineTuneConfig

    from .sentiment import SentimentModel

    out = demo_model_dir(var_dir)
    if (out / MANIFEST).is_file():
        return out
    log.info("training the demo sentiment model (fast mode) → %s", out)
    demo = DEMO_DIR / "sentiment.csv"
    model = SentimentModel.train([demo], [demo], config=FineTuneConfig(mode="fast"), base_model=base_model or None, progress=progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    return model.save(out)


def sentiment_source(settings: MonitorSettings, var_dir: Path, *, base_model: str | None = None, progress: bool = True) -> Path:
    """The model the monitor starts from: the configured directory, else the demo model (trained when missing)."""
    if settings.sentiment_model:
        return Path(settings.sentiment_model)
    return ensure_demo_model(var_dir, base_model=base_model, progress=progress)


def load_sentiment(store, source: Path):
    """(SentimentModel, version label, version dir or None): ``store``'s active retrained version when retraining
    promoted one (see retraining.py), else ``source`` (see ``sentiment_source``; its ONNX export preferred)."""
    active = store.active()
    if active is not None:
        return *load_version(active), active
    path = serving_dir(source)
    return _sentiment_model(path), path.name[:128], None


def load_version(version: Path):
    """(SentimentModel, version label) of a retrained version, served by its ONNX export."""
    from .retraining import serving_path

    return _sentiment_model(serving_path(version)), version.name[:128]


def _sentiment_model(path: Path):
    from .sentiment import SentimentModel

    return SentimentModel.load(path)


def topic_encoder_dir(config: Config) -> Path:
    """Where the ONNX export of the topic encoder is kept (named by the encoder it was made from)."""
    from shared.encoder import resolve_encoder

    source = resolve_encoder(config.base_model or None)
    return Path(config.var_dir) / "finance_monitor" / f"topic-encoder-{hashlib.sha256(str(source).encode()).hexdigest()[:12]}"


def topic_encoder(config: Config, *, onnx: bool = False):
    """The encoder topic similarity uses: the suite's base model in torch, or (``onnx``, for replays of many
    thousands of headlines) its int8 ONNX export, made once and kept under ``var_dir/finance_monitor``."""
    if not onnx:
        from shared.embeddings import Embedder

        return Embedder(config.base_model or None)
    from shared.encoder import resolve_encoder
    from shared.onnx_runtime import OnnxEncoder, export_onnx_encoder

    source = resolve_encoder(config.base_model or None)
    cache = topic_encoder_dir(config)
    if (cache / MANIFEST).is_file():
        return OnnxEncoder.load(cache)
    log.info("exporting the topic encoder to ONNX int8 (once) → %s", cache)
    cache.parent.mkdir(parents=True, exist_ok=True)
    return export_onnx_encoder(source, cache)


def replay_shift(last: dt.datetime, now: dt.datetime, size: dt.timedelta) -> dt.timedelta:
    """How far a replay source moves its rows onto the wall clock: the bucket of its ``last`` row becomes the one
    just before ``now``'s, so the whole file is history and its last (complete) bucket is the next one judged.
    Whole buckets, so every bucket holds the rows it holds in ``troika finance replay`` and raises its alerts."""
    return bucket_start(now, size) - size - bucket_start(last, size)


# ---- the monitor ---------------------------------------------------------------------------


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
        self.rules_key = rules_key(settings.rules)
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
        self._replays: dict[str, StreamReplay] = {}
        self._detect_lock = threading.Lock()
        self._score_lock = threading.Lock()
        self._retrain_lock = threading.Lock()
        self.watcher: ActiveWatcher | None = None  # set when prepare() loaded the model (see retrain)

    @classmethod
    def from_config(cls, config: Config, *, sentiment=None, model_version: str = "", load_models: bool = True,
                    progress: bool = True, clock: Callable[[], dt.datetime] = utcnow, base: Path | None = None) -> "Monitor":
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
        else:
            result, cursor = self._poll_replay(source, cursor, now)
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

    def _poll_replay(self, source: Source, cursor: dict | None, now: dt.datetime) -> tuple[PollResult, dict]:
        """Rows of a replay source whose time, shifted onto the wall clock, has come (see settings.py)."""
        replay = self._replays.get(source.name)
        if replay is None:
            try:
                report = RowReport(str(source.path))
                replay = self._replays[source.name] = StreamReplay(source.path, report=report)
            except (TroikaError, OSError) as exc:
                return PollResult("error", detail=str(exc)), cursor
            # Bad rows cost only themselves; the log says which, once, when the file is loaded.
            for line in report.summary_lines():
                log.warning("source %s: %s", source.name, line)
        cursor = dict(cursor or {})
        if "shift_seconds" not in cursor:
            cursor["shift_seconds"] = int(replay_shift(replay.end, now, self.bucket).total_seconds())
        shift = dt.timedelta(seconds=cursor["shift_seconds"])
        done = dt.datetime.fromisoformat(cursor["until"]) if cursor.get("until") else replay.articles[0].published_at
        until = now - shift + dt.timedelta(microseconds=1)  # rows at or before now
        rows = replay.between(done, until) if until > done else []
        cursor["until"] = max(until, done).isoformat()
        shifted = [dataclasses.replace(a, published_at=a.published_at + shift) for a in rows]
        return PollResult("ok", shifted), cursor

    def process_pending(self) -> int:
        """Score and assign topics to every stored article still without a score; returns how many."""
        if self.sentiment is None:
            return 0
        done = 0
        with self._score_lock:
            while True:
                batch = self._unscored(self.settings.batch_size)
                if not batch:
                    return done
                scores = self.sentiment.score_articles([r["title"] for r in batch], [scoring_body(r["title"], r["text"]) for r in batch])
                topic_texts = [topic_text(r["title"], r["text"]) for r in batch]
                assignments = self.assigner.assign_many(topic_texts, [r["tickers"] or () for r in batch])
                self._save_scored(batch, scores, assignments)
                done += len(batch)

    def _save_scored(self, batch: list[dict], scores, assignments) -> None:
        """Topics and scores of a batch in one transaction: a crash leaves the whole batch unscored, to be done again."""
        topic_rows = [dict(article_id=r["id"], topic=t, method=m, score=float(v)) for r, found in zip(batch, assignments) for t, m, v in found]
        with self.store.engine.begin() as c:
            if topic_rows:
                upsert(c, article_topics, topic_rows, key=["article_id", "topic"])
            for row, s in zip(batch, scores):
                c.execute(articles.update().where(articles.c.id == row["id"]).values(
                    sentiment=s.label, score=float(s.score), probabilities=s.probabilities, model=self.model_version))

    def _unscored(self, limit: int) -> list[dict]:
        query = (sa.select(articles.c.id, articles.c.title, articles.c.text, articles.c.tickers)
                 .where(articles.c.sentiment.is_(None)).order_by(articles.c.id).limit(limit))
        with self.store.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(query).all()]

    # ---- detection -------------------------------------------------------------------------

    def detect(self, now: dt.datetime | None = None) -> dict:
        """The scheduler's detection job: judge the complete buckets since the last pass; save and send alerts."""
        with self._detect_lock:
            return self._detect(now or self.clock())

    run_detection = detect

    def _detect(self, now: dt.datetime) -> dict:
        size = self.bucket
        end = bucket_start(now, size)
        saved = self.store.load_state(BOOK_STATE, {}) or {}
        same_rule = saved.get("rule") == self.rules_key
        book = AlertBook.from_dict(saved.get("book", {}), self.policy) if same_rule else AlertBook(self.policy)
        last = dt.datetime.fromisoformat(saved["last_window_end"]) if same_rule and saved.get("last_window_end") else None
        since = max(last, end - MAX_CATCHUP * size) if last else end - FIRST_LOOKBACK * size
        if since >= end:
            self._refresh(book.firing(), set(), now)
            return {"windows": 0, "fired": 0, "resolved": 0, "firing": len(book.firing())}
        start = since - max(rule.depth for rule in self.rules) * size
        events = detect_windows(self.scored_items(start, end), self.topic_names, size, self.rules, book,
                                start=start, end=end, since=since)
        changed = {e.alert.fingerprint for e in events} | {a.fingerprint for a in book.firing()}
        alerts = [book.current(fp) for fp in sorted(changed)]
        self._add_headlines(alerts)
        for alert in alerts:
            self.store.save_alert(alert)
        loud = [e for e in events if not self.store.is_silenced(alert_id_for(self.store, e), now)]  # a person silenced it
        if loud:
            dispatch([self._fresh(e, book) for e in loud], self.channels, self.store, dashboard_url=self.settings.dashboard_url,
                     server_url=self.server_url())
        self._refresh(book.firing(), {e.alert.fingerprint for e in loud if e.kind != "resolved"}, now)
        self.store.save_state(BOOK_STATE, {"rule": self.rules_key, "book": book.to_dict(), "last_window_end": end.isoformat()})
        windows = int((end - since) / size) * len(self.topic_names)
        counts = {k: sum(e.kind == k for e in events) for k in ("fired", "escalated", "resolved")}
        return {"windows": windows, **counts, "firing": len(book.firing()), "silenced": len(events) - len(loud)}

    def _refresh(self, firing: list[Alert], just_sent: set[str], now: dt.datetime) -> None:
        """Re-send what still fires to Alertmanager-style channels (Prometheus does the same each
        evaluation), except what this pass already sent and what a person silenced."""
        again = [a for a in firing if a.fingerprint not in just_sent and not self.store.is_silenced(
            alert_id_for(self.store, AlertEvent("fired", now, a)), now)]
        if again:
            refresh(again, now, self.channels, self.store, dashboard_url=self.settings.dashboard_url,
                    server_url=self.server_url())

    def server_url(self) -> str:
        """This server's dashboard, for Alertmanager's generatorURL when no dashboard_url is set."""
        host = self.suite.host
        if host in ("0.0.0.0", "::", ""):
            host = "localhost"  # listening everywhere: a wildcard address is no link
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.suite.port}/finance/"

    @staticmethod
    def _fresh(event: AlertEvent, book: AlertBook) -> AlertEvent:
        # The event's copy carries the evidence as of its window; give it the headlines added since.
        current = book.current(event.alert.fingerprint)
        alert = dataclasses.replace(event.alert, evidence=current.evidence) if current and current.started_at == event.alert.started_at else event.alert
        return dataclasses.replace(event, alert=alert)

    def scored_items(self, since: dt.datetime, until: dt.datetime) -> list[ScoredItem]:
        """One item per (scored article, topic) published in ``[since, until)``: what buckets count."""
        query = (sa.select(article_topics.c.topic, articles.c.id, articles.c.published_at, articles.c.time_precision,
                           articles.c.sentiment, articles.c.probabilities)
                 .join(articles, articles.c.id == article_topics.c.article_id)
                 .where(articles.c.sentiment.is_not(None), articles.c.published_at >= since, articles.c.published_at < until))
        with self.store.engine.connect() as c:
            rows = c.execute(query).all()
        return [ScoredItem(r.id, r.topic, r.published_at, r.sentiment == "negative", float((r.probabilities or {}).get("negative", 0.0)),
                           r.time_precision) for r in rows]

    def _add_headlines(self, alerts: list[Alert]) -> None:
        ids = {i for a in alerts for i in a.evidence.get("top_negative_ids", []) if isinstance(i, int)}
        if not ids:
            return
        with self.store.engine.connect() as c:
            titles = dict(c.execute(sa.select(articles.c.id, articles.c.title).where(articles.c.id.in_(ids))).all())
        for alert in alerts:
            found = [titles[i] for i in alert.evidence.get("top_negative_ids", []) if i in titles]
            alert.evidence = {**alert.evidence, "top_negative_headlines": found[:EVIDENCE_HEADLINES]}

    # ---- retraining ------------------------------------------------------------------------

    def retrain(self, *, tolerance: float = 0.0) -> dict:
        """The optional retraining job: learn the analysts' sentiment corrections (see retraining.py).

        Without a correction no promoted model has learned, nothing is trained. A promoted model serves this
        process's next batch at once, and other processes through their watchers; its corrections are then
        marked learned. ``tolerance``: how much worse (held-out accuracy) a candidate may be and still win."""
        pending = self.store.unlearned_corrections()
        if not pending:
            return {"status": "nothing to learn"}
        from .retraining import learn_corrections

        config = self.suite
        with self._retrain_lock:
            rows = self.store.corrections()
            source = sentiment_source(self.settings, config.var_dir, base_model=config.base_model, progress=False)
            if is_onnx_export(source):
                raise ConfigError(f"{SECTION}.sentiment_model: {source} is an ONNX export, which cannot be trained further; "
                                  "point it at the model directory it was exported from")
            outcome = learn_corrections(self._model_store(source), source, rows, tolerance=tolerance)
            counts = {"corrections": outcome.corrections, "new": pending, "learned_from": outcome.learned_from,
                      "held_out": outcome.held_out}
            result = outcome.result
            if result is None:
                return {"status": "waiting for corrections", **counts, "reason": outcome.reason}
            log.info("retrain: %s", result.summary())
            if result.promoted:
                self._use_version(result.version)
                if self.watcher is not None:
                    self.watcher.current = result.version  # loaded already: the watcher need not load it again
                self.store.mark_learned(max(r["id"] for r in rows))
        return {"status": "promoted" if result.promoted else "kept the active model", **counts,
                "old_accuracy": result.old_metrics["accuracy"], "new_accuracy": result.new_metrics["accuracy"],
                "version": result.version.name}

    def _model_store(self, source: Path | None = None):
        """The store of versions retrained from ``source`` (default: the model this monitor starts from)."""
        from .retraining import model_store

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
