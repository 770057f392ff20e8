"""How ``troika run`` (and ``troika rec serve``) hosts the recommender: its tables, its model, its API under /rec.

The API is gorse's (``recommender.api``): a gorse SDK pointed at ``http://host:8000/rec`` works
unchanged. ``prepare`` migrates the database, imports the demo catalogue of ``recommender/demo``
(a made-up film club: 60 films, 15 members' clicks) when the catalogue is empty, and builds the
serving model: the frozen-encoder content recommender (``ContentRecommender``, popular items as
the fallback) over every stored item and feedback. Building costs one embedding pass over the
catalogue (seconds for the demo), cached under ``var_dir/recommender/vectors`` so a restart on
the same catalogue skips it. Items inserted through the API are embedded at once; feedback moves
recommendations at once; no restart.

    [recommender]
    api_key = "a long random string"   # or TROIKA_RECOMMENDER_API_KEY; unset: the API answers 403
    demo = true                        # import the demo catalogue into an empty database

The trained click model (``troika rec train``) is not served yet: the content model is what
answers, and every response names its source in ``X-Troika-Source``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import recommender
from shared.config import Config
from shared.embeddings import Embedder
from shared.errors import ConfigError
from shared.server import Plugin
from shared.storage import engine_for, migrate

from .api import make_blueprint
from .catalogue import Catalogue
from .importers import import_feedback, import_items
from .service import RecommenderService

log = logging.getLogger(__name__)

PACKAGE = Path(recommender.__file__).parent
DEMO = PACKAGE / "demo"
DEMO_ITEMS, DEMO_FEEDBACK = DEMO / "items.csv", DEMO / "feedback.csv"
API_KEY_ENV = "TROIKA_RECOMMENDER_API_KEY"


def import_demo(catalogue: Catalogue) -> tuple[int, int]:
    """The demo catalogue and its feedback into ``catalogue`` (idempotent); (items, feedback) written."""
    items, _ = import_items(DEMO_ITEMS, strict=True)
    feedback, _ = import_feedback(DEMO_FEEDBACK, {i.id for i in items}, strict=True)
    return catalogue.put_items(items), catalogue.add_feedback(feedback)


def make_plugin(config: Config, *, embedder: Embedder | None = None) -> Plugin:
    """``embedder``: the item encoder (default: ``config.base_model``, else the packaged MiniLM; loaded on first use)."""
    settings = config.section("recommender")
    unknown = sorted(set(settings) - {"api_key", "demo"})
    if unknown:
        raise ConfigError(f"[recommender] has unknown key(s) {', '.join(unknown)}; the keys are api_key, demo")
    if not isinstance(settings.get("demo", True), bool):
        raise ConfigError(f"recommender.demo must be true or false, got {settings['demo']!r}")
    if not isinstance(settings.get("api_key", ""), str):
        raise ConfigError("recommender.api_key must be a string")
    settings["api_key"] = os.environ.get(API_KEY_ENV) or settings.get("api_key", "")
    engine = engine_for(config.database_url)
    catalogue = Catalogue(engine)
    service = RecommenderService(catalogue, embedder=embedder or Embedder(config.base_model or None),
                                 vector_cache=Path(config.var_dir) / "recommender" / "vectors")
    blueprint, spec = make_blueprint(service, settings=settings)
    status = {"prepared": False, "built": ""}

    def prepare() -> None:
        migrate(engine, PACKAGE / "migrations", "recommender_alembic_version")
        if settings.get("demo", True) and catalogue.counts()["items"] == 0:
            n_items, n_feedback = import_demo(catalogue)
            log.info("recommender: imported the demo catalogue (%d items, %d feedback records)", n_items, n_feedback)
        built = service.rebuild(show_progress=True)
        if built["items"]:
            status["built"] = f"content model over {built['items']} items, {built['users']} users, {built['feedback']} feedback records"
        status["prepared"] = True
        if not settings["api_key"]:
            log.warning("recommender: no api_key in [recommender] nor %s: the API refuses every request (403)", API_KEY_ENV)

    def ready() -> tuple[bool, str]:
        if service.ready:
            return True, status["built"] or "content model over the items inserted through the API"
        if status["prepared"]:
            return False, "the catalogue is empty: insert items through /rec/api/item"
        return False, "the model is still being built"

    return Plugin(name="recommender", title="Recommender",
                  description="A gorse-compatible recommendation API that reads item text: new items are recommendable at once.",
                  blueprint=blueprint, url_prefix="/rec", prepare=prepare, ready=ready, api_spec=spec, state=service)
