"""How ``troika run`` (and ``troika rec serve``) hosts the recommender: its tables, its model, its API under /rec.

The API is gorse's (``recommender.api``): a gorse SDK pointed at ``http://host:8000/rec`` works
unchanged. ``prepare`` migrates the database, imports the demo catalogue of ``recommender/demo``
(a made-up film club: 60 films, 15 members' clicks) when the catalogue is empty, and builds the
serving models:

- the frozen-encoder content recommender (``ContentRecommender``, popular items as the fallback)
  over every stored item and feedback: it finds the candidates. Building costs one embedding
  pass over the catalogue (seconds for the demo), cached under ``var_dir/recommender/vectors``
  so a restart on the same catalogue skips it;
- the click model active in ``var_dir/recommender/models`` (an ``ArtifactStore``): it ranks the
  candidates by calibrated click probability. Versions come from the retrain job (below), from
  ``troika rec retrain`` or from ``troika rec publish MODEL`` (a ``troika rec train`` output); an
  ``ActiveWatcher`` swaps a newly activated version in without a restart. Until one exists the
  content model ranks alone.

The retrain job (APScheduler through ``shared.scheduler``, one per deployment) fits a candidate
click model on everything stored and promotes it only when it is not worse on the latest
feedback held out (``recommender.retraining``); on a fresh machine its first run starts at once,
so the demo is ranked by a click model a few seconds after start. Items inserted through the API
are embedded at once; feedback moves recommendations at once; no restart.

    [recommender]
    api_key = "a long random string"   # or TROIKA_RECOMMENDER_API_KEY; unset: generated once, kept in <var_dir>/recommender/api_key; "": the API answers 403
    demo = true                        # import the demo catalogue into an empty database
    ranking = "click"                  # "content": never load a click model
    retrain_every = 86400              # seconds between retrains; 0: no retrain job
    fine_tune = true                   # the retrain job fine-tunes the item encoder on the clicks
    reload_seconds = 2                 # how often the server looks for a newly activated model
    rate_limit = "200/second"          # per client (remote address) on /rec/api/*; over it: 429 + Retry-After; "": none
    positive_feedback_types = ["click", "star", "like", "purchase", "favorite", "share"]  # the user liked the item
    read_feedback_types = ["read", "view"]   # shown or read: seen (not recommended again), a negative; other types: stored, ignored

Every response names its source in ``X-Troika-Source``.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
from pathlib import Path

import recommender
from shared.artifacts import ActiveWatcher, ArtifactStore
from shared.config import Config
from shared.embeddings import Embedder
from shared.scheduler import Job, Scheduler
from shared.server import Plugin, urls
from shared.storage import engine_for, migrate

from .api import make_blueprint
from .catalogue import Catalogue
from .importers import import_feedback, import_items
from .service import RecommenderService
from .settings import API_KEY_ENV, api_key_file, plugin_settings, resolve_api_key

log = logging.getLogger(__name__)

PACKAGE = Path(recommender.__file__).parent
DEMO = PACKAGE / "demo"
DEMO_ITEMS, DEMO_FEEDBACK = DEMO / "items.csv", DEMO / "feedback.csv"
JOBS_TABLE = "rec_apscheduler_jobs"  # APScheduler creates and owns it


def import_demo(catalogue: Catalogue) -> tuple[int, int]:
    """The demo catalogue and its feedback into ``catalogue`` (idempotent); (items, feedback) written."""
    items, _ = import_items(DEMO_ITEMS, strict=True)
    feedback, _ = import_feedback(DEMO_FEEDBACK, {i.id for i in items}, strict=True)
    return catalogue.put_items(items), catalogue.add_feedback(feedback)


def model_store(config: Config) -> ArtifactStore:
    """Where the served click model's versions live (the retrain job and ``troika rec publish`` add to it)."""
    return ArtifactStore(Path(config.var_dir) / "recommender" / "models")


class Recommender:
    """What the plugin holds: the service, its model store, the retrain job's runner and scheduler."""

    def __init__(self, service: RecommenderService, store: ArtifactStore, settings: dict):
        self.service, self.store, self.settings = service, store, settings
        self.version: Path | None = None  # the click model version serving
        self.watcher: ActiveWatcher | None = None
        self.scheduler: Scheduler | None = None
        self.job_runs: collections.deque[str] = collections.deque(maxlen=20)

    def load(self, version: Path) -> None:
        from .click_model import ClickModel

        self.service.use_click_model(ClickModel.load(version))
        self.version = version
        log.info("recommender: ranking with click model %s", version.name)

    def retrain(self) -> dict:
        """One retrain (the scheduled job): a candidate on everything stored, active when not worse."""
        from .click_model import ClickModelConfig
        from .retraining import retrain

        items, feedback = self.service.snapshot()
        result = retrain(items, feedback, self.store, ClickModelConfig(fine_tune=self.settings["fine_tune"]))
        if result.promoted and self.watcher is not None:
            self.watcher.check()  # this process serves it now; others within reload_seconds
        return {"promoted": result.promoted, "auc": result.new_metrics["auc"],
                "active_auc": (result.old_metrics or {}).get("auc", -1.0)}

    def record_job_run(self, job_id: str, status: str, *, started_at, scheduled_at, finished_at=None, detail: str = "",
                       counts: dict | None = None) -> None:
        """What the scheduler reports of each run: logged, and the latest kept for /health/ready
        (the retrain's lasting record is the model store: every promoted version, ACTIVE naming one)."""
        line = f"{job_id} {status} at {started_at:%Y-%m-%d %H:%M:%S}Z" + (f": {detail}" if detail else "") + (
            f" {counts}" if counts else "")
        (log.error if status == "error" else log.info)("recommender job %s", line)
        self.job_runs.append(line)

    def start_watching(self) -> None:
        self.watcher = ActiveWatcher(self.store, self.load, interval=float(self.settings["reload_seconds"]),
                                     current=self.version).start()

    def shutdown(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown()
        if self.watcher is not None:
            self.watcher.stop()


def make_plugin(config: Config, *, embedder: Embedder | None = None) -> Plugin:
    """``embedder``: the item encoder (default: ``config.base_model``, else the packaged MiniLM; loaded on first use)."""
    settings = plugin_settings(config)
    generated = resolve_api_key(config, settings)
    engine = engine_for(config.database_url)
    catalogue = Catalogue(engine)
    service = RecommenderService(catalogue, embedder=embedder or Embedder(config.base_model or None),
                                 vector_cache=Path(config.var_dir) / "recommender" / "vectors",
                                 feedback_types=settings["feedback_types"])
    app = Recommender(service, model_store(config), settings)
    blueprint, spec = make_blueprint(service, settings=settings)
    status = {"prepared": False, "built": ""}

    def prepare() -> None:
        migrate(engine, PACKAGE / "migrations", "recommender_alembic_version")
        if settings["demo"] and catalogue.counts()["items"] == 0:
            n_items, n_feedback = import_demo(catalogue)
            log.info("recommender: imported the demo catalogue (%d items, %d feedback records)", n_items, n_feedback)
        built = service.rebuild(show_progress=True)
        if built["items"]:
            status["built"] = f"content model over {built['items']} items, {built['users']} users, {built['feedback']} feedback records"
        status["prepared"] = True
        announce_key(config, settings, generated)
        if settings["ranking"] == "click":
            active = app.store.active()
            if active is not None and built["items"]:
                try:
                    app.load(active)
                except Exception as exc:  # a damaged version must not stop the server: the content model serves
                    log.error("recommender: could not load click model %s (%s); ranking by the content model", active, exc)
                    app.version = active
            app.start_watching()
            start_scheduler(app, engine)

    def ready() -> tuple[bool, str]:
        if service.ready:
            ranking = f"; ranked by click model {app.version.name}" if service.click_model_ is not None else "; ranked by the content model"
            last = f"; last job run: {app.job_runs[-1]}" if app.job_runs else ""
            return True, (status["built"] or "content model over the items inserted through the API") + ranking + last
        if status["prepared"]:
            return False, "the catalogue is empty: insert items through /rec/api/item"
        return False, "the model is still being built"

    return Plugin(name="recommender", title="Recommender",
                  description="A gorse-compatible recommendation API that reads item text: new items are recommendable at once.",
                  blueprint=blueprint, url_prefix="/rec", prepare=prepare, ready=ready, api_spec=spec, state=app)


def announce_key(config: Config, settings: dict, generated: bool) -> None:
    """The start-up log line a newcomer needs to try the demo: the key (only the run that generated
    it prints it; later runs say where it is kept) and the demo page's URL."""
    demo = urls(config, [])[0][1] + "rec/"
    if generated:
        log.warning("recommender: generated an API key, kept in %s: %s (send it as X-API-Key; the demo page %s asks for it)",
                    api_key_file(config), settings["api_key"], demo)
    elif not settings["api_key"]:
        log.warning("recommender: api_key is \"\" in [recommender]: the API refuses every request (403)")
    elif "api_key" not in config.section("recommender") and not os.environ.get(API_KEY_ENV):
        log.info("recommender: the API key is in %s; demo page %s", api_key_file(config), demo)


def start_scheduler(app: Recommender, engine) -> None:
    """The retrain job, every ``retrain_every`` seconds, and at once when no model exists yet. One
    scheduler per deployment: where another process runs it, this one only serves (and its watcher
    picks up what the other one promotes)."""
    every = app.settings["retrain_every"]
    if not every:
        return
    scheduler = Scheduler(engine, app, {"retrain": Job("retrain", every=every)}, name="recommender",
                          table=JOBS_TABLE, record=app.record_job_run, misfire_grace_time=max(120, int(every // 10)))
    if not scheduler.start():
        log.info("recommender: the retrain job runs in another process")
        return
    app.scheduler = scheduler
    atexit.register(app.shutdown)
    if app.store.active() is None:
        scheduler.run_now("retrain")
