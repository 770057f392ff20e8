"""``troika rec ...``: import data, train and evaluate the click model, serve the API.

    troika rec train --movielens DIR --train RATINGS.csv --out MODEL
    troika rec train --amazon ITEMS.json --train TRAIN.csv --out MODEL
    troika rec evaluate --model MODEL --movielens DIR --train RATINGS.csv --test RATINGS.csv --json
    troika rec evaluate --model MODEL --amazon ITEMS.json --train TRAIN.csv --test TEST.csv --json
    troika rec import --movielens DIR | --amazon ITEMS.json --train F | --mind DIR | --items F --feedback F
    troika rec serve [--config troika.toml] [--host H] [--port P]
    troika rec retrain [--config troika.toml] [--no-fine-tune]     # once, now: promoted only when not worse
    troika rec publish MODEL [--config troika.toml]               # serve a troika rec train output

Errors are TroikaError, printed by ``shared.cli.main`` as one line with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from shared.encoder import BASE_MODEL_HELP
from shared.errors import DataError

EXAMPLES = """examples:
  troika rec train --movielens ../shared/data/movielens_latest_small \\
      --train ../shared/data/movielens_latest_small/ratings_train.csv --out var/models/rec-movielens
  troika rec evaluate --model var/models/rec-movielens --movielens ../shared/data/movielens_latest_small \\
      --train ../shared/data/movielens_latest_small/ratings_train.csv \\
      --test ../shared/data/movielens_latest_small/ratings_validation.csv --json
  troika rec train --amazon ../shared/data/amazon2018_industrial_office/items_Office_Products.json \\
      --train ../shared/data/amazon2018_industrial_office/train_Office_Products.csv --out var/models/rec-office
  troika rec import --movielens ../shared/data/movielens_latest_small     # into the app database
"""


def _load(args, with_test: bool):
    from .evaluation import load_amazon, load_movielens

    if (args.movielens is None) == (args.amazon is None):
        raise DataError("give exactly one of --movielens DIR or --amazon ITEMS.json")
    test = args.test if with_test else None
    if args.movielens is not None:
        return load_movielens(args.movielens, args.train, test, threshold=args.threshold)
    return load_amazon(args.amazon, args.train, test)


def _config(args):
    from .click_model import ClickModelConfig

    overrides = {"max_pairs": args.max_pairs, "epochs": args.epochs, "seed": args.seed, "base_model": args.base_model}
    config = ClickModelConfig(**{k: v for k, v in overrides.items() if v is not None})
    if args.no_fine_tune:
        config.fine_tune = False
    return config


def cmd_train(args) -> str:
    from .click_model import ClickModel

    data = _load(args, with_test=False)
    start = time.perf_counter()
    model = ClickModel(_config(args)).fit(data.items, data.train, rows=data.rows or None, progress=not args.quiet)
    out = model.save(args.out)
    tuning = model.tuning_
    return (f"trained the click model on {len(data.train)} {'rows' if data.rows else 'feedback records'}, {len(data.items)} items "
            f"({model.encoder_metrics_.get('pairs', 0)} encoder pairs, half-life {model.half_life_}); tuning AUC: click probability "
            f"{tuning['click_probability_auc']:.4f}, blend {tuning['blend_auc']:.4f}; in {time.perf_counter() - start:.0f}s → {out}")


def cmd_evaluate(args) -> None:
    from .click_model import ClickModel
    from .evaluation import evaluate, summary_line

    model = ClickModel.load(args.model)  # verifies the manifest before the data is read
    data = _load(args, with_test=True)
    start = time.perf_counter()
    report = evaluate(model, data, seed=args.seed or 0, progress=not args.quiet, baselines=not args.no_baselines)
    report["seconds"] = round(time.perf_counter() - start, 1)
    summary = summary_line(report) + f"; in {report['seconds']:.0f}s"
    if args.json:
        print(json.dumps(report, indent=1))
        print(summary, file=sys.stderr)
    else:
        rows = [("model", report)] + list(report.get("baselines", {}).items())
        print(f"{'scorer':12s} " + " ".join(f"{k:>8s}" for k in ("auc", "mrr", "ndcg@5", "ndcg@10", "hit@10")))
        for name, values in rows:
            print(f"{name:12s} " + " ".join(f"{values[k]:8.4f}" for k in ("auc", "mrr", "ndcg@5", "ndcg@10", "hit@10")))
        print(summary)


def cmd_import(args) -> str:
    from shared.config import load_config
    from shared.storage import engine_for, migrate

    from .catalogue import Catalogue
    from .importers import import_amazon, import_feedback, import_items, import_mind, import_movielens

    if args.movielens:
        result = import_movielens(args.movielens, strict=args.strict)
        items, feedback, impressions = result.items, result.feedback, result.impressions
    elif args.amazon:
        result = import_amazon(args.amazon, *args.train, strict=args.strict)
        items, feedback, impressions = result.items, result.feedback, result.impressions
    elif args.mind:
        result = import_mind(args.mind, strict=args.strict)
        items, feedback, impressions = result.items, result.feedback, result.impressions
    elif args.items or args.feedback:
        items, feedback, impressions, reports = [], [], [], []
        if args.items:
            items, report = import_items(args.items, strict=args.strict)
            reports.append(report)
        if args.feedback:
            feedback, report = import_feedback(args.feedback, strict=args.strict)
            reports.append(report)
        result = type("R", (), {"summary": lambda self: "; ".join(r.summary() for r in reports)})()
    else:
        raise DataError("give one of --movielens DIR, --amazon ITEMS.json, --mind DIR, or --items / --feedback files")
    config = load_config(args.config)
    engine = engine_for(config.database_url)
    migrate(engine, Path(__file__).parent / "migrations", "recommender_alembic_version")
    catalogue = Catalogue(engine)
    n_items = catalogue.put_items(items)
    n_feedback = catalogue.add_feedback(feedback)
    n_impressions = sum(catalogue.add_impression(i) for i in impressions)
    return (f"imported {n_items} items, {n_feedback} feedback records, {n_impressions} impressions "
            f"({result.summary()}) into {engine.url.render_as_string(hide_password=True)}")


def cmd_retrain(args) -> str:
    """What the server's retrain job does, once and now, on the configured database."""
    from shared.config import load_config
    from shared.storage import engine_for, migrate

    from .catalogue import Catalogue
    from .click_model import ClickModelConfig
    from .plugin import PACKAGE, model_store, plugin_settings
    from .retraining import retrain
    from .service import RecommenderService

    config = load_config(args.config)
    engine = engine_for(config.database_url)
    migrate(engine, PACKAGE / "migrations", "recommender_alembic_version")
    types = plugin_settings(config)["feedback_types"]  # the server's meaning of each type, so both fit the same pairs
    items, feedback = RecommenderService(Catalogue(engine), feedback_types=types).snapshot()
    if not items:
        raise DataError(f"no items in {engine.url.render_as_string(hide_password=True)}: import some first (troika rec import)")
    result = retrain(items, feedback, model_store(config), ClickModelConfig(fine_tune=not args.no_fine_tune),
                     progress=not args.quiet)
    return result.summary()


def cmd_publish(args) -> str:
    """Copy a trained model into the server's model store and make it the active one."""
    import shutil

    from shared.config import load_config

    from .click_model import ClickModel
    from .plugin import model_store

    ClickModel.load(args.model)  # refuses a damaged or foreign directory before anything is copied
    store = model_store(load_config(args.config))
    version = store.new_version_dir()
    shutil.copytree(args.model, version)
    store.activate(version)
    return f"published {args.model} as {version.name}, now active: a running server switches to it within reload_seconds"


def cmd_serve(args) -> str:
    """The suite server with the recommender alone (``recommender.plugin``: demo data on an empty database)."""
    from shared.config import load_config
    from shared.server import serve

    overrides = {k: v for k, v in {"host": args.host, "port": args.port, "apps": ("recommender",)}.items() if v is not None}
    serve(load_config(args.config, **overrides))
    return "server stopped"


def _data_options(p, *, test: bool) -> None:
    p.add_argument("--movielens", type=Path, metavar="DIR", help="MovieLens folder (movies.csv; tags*.csv become item text)")
    p.add_argument("--amazon", type=Path, metavar="ITEMS.json", help="Amazon 2018 item file (the rows come from --train/--test)")
    p.add_argument("--train", type=Path, required=True, metavar="FILE", help="train period: MovieLens ratings CSV or Amazon rows CSV")
    if test:
        p.add_argument("--test", type=Path, required=True, metavar="FILE", help="evaluation period, same format as --train")
    p.add_argument("--threshold", type=float, default=4.0, help="MovieLens: a rating at or above it is a click (default 4.0)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")


def register(subparsers) -> None:
    rec = subparsers.add_parser("rec", help="recommender: import data, train and evaluate the click model, serve the API",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = rec.add_subparsers(dest="rec_command", metavar="VERB", required=True)

    p = verbs.add_parser("train", help="fine-tune the click model on a train period and save it",
                         description="Fine-tune the item text encoder on clicks, learn the click probability and the blender, "
                         "and save a manifest-verified model directory.", epilog=EXAMPLES,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    _data_options(p, test=False)
    p.add_argument("--out", type=Path, required=True, metavar="MODEL", help="model directory to write (replaced atomically)")
    p.add_argument("--max-pairs", type=int, help="encoder training pairs (bounds the fine-tuning steps: pairs / 32 per epoch; default 1024)")
    p.add_argument("--epochs", type=float, help="encoder epochs over the pairs (default 1)")
    p.add_argument("--no-fine-tune", action="store_true", help="keep the base encoder frozen (minutes faster)")
    p.add_argument("--base-model", help=BASE_MODEL_HELP)
    p.set_defaults(func=cmd_train)

    p = verbs.add_parser("evaluate", help="ranking metrics of a model and the baselines on a test period",
                         description="AUC, MRR, nDCG@5, nDCG@10 and hit@10 of the model, and of the popularity, ALS and "
                         "frozen-content baselines fitted on --train, on the same cases. MovieLens: each test user's rated "
                         "items form one impression; Amazon: each test row's next item against the whole catalogue.",
                         epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, metavar="MODEL", help="directory written by troika rec train")
    _data_options(p, test=True)
    p.add_argument("--json", action="store_true", help="print the report as JSON (the summary goes to stderr)")
    p.add_argument("--no-baselines", action="store_true", help="score the model only")
    p.set_defaults(func=cmd_evaluate)

    p = verbs.add_parser("import", help="load data files into the app database",
                         description="Items, feedback and impressions into the recommender's tables (idempotent: importing "
                         "twice leaves the same rows). Bad rows are counted and reported, or refused with --strict.")
    p.add_argument("--movielens", type=Path, metavar="DIR", help="MovieLens folder (movies.csv, ratings*.csv, tags*.csv)")
    p.add_argument("--amazon", type=Path, metavar="ITEMS.json", help="Amazon 2018 item file; rows from --train")
    p.add_argument("--train", type=Path, nargs="*", default=[], metavar="ROWS.csv", help="Amazon row files, oldest first")
    p.add_argument("--mind", type=Path, metavar="DIR", help="MIND folder (news.tsv, behaviors.tsv)")
    p.add_argument("--items", type=Path, metavar="FILE", help="generic items CSV/JSONL")
    p.add_argument("--feedback", type=Path, metavar="FILE", help="generic feedback CSV/JSONL")
    p.add_argument("--strict", action="store_true", help="stop at the first bad row instead of skipping it")
    p.add_argument("--config", type=Path, help="troika.toml (the database URL)")
    p.set_defaults(func=cmd_import)

    p = verbs.add_parser("serve", help="serve the recommender app alone (the suite server with apps = recommender)")
    p.add_argument("--config", type=Path, help="troika.toml to read")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default 8000)")
    p.set_defaults(func=cmd_serve)

    p = verbs.add_parser("retrain", help="fit a click model on the app database now; served only when not worse",
                         description="What the server's periodic retrain job does, once: a candidate click model on every "
                                     "stored item and feedback, compared with the active one on each user's latest feedback "
                                     "held out, activated when not worse (a running server switches without a restart).")
    p.add_argument("--config", type=Path, help="troika.toml (database URL, var_dir)")
    p.add_argument("--no-fine-tune", action="store_true", help="keep the base encoder frozen (faster)")
    p.set_defaults(func=cmd_retrain)

    p = verbs.add_parser("publish", help="serve a model made by troika rec train (copied into the model store, activated)")
    p.add_argument("model", type=Path, metavar="MODEL", help="directory written by troika rec train")
    p.add_argument("--config", type=Path, help="troika.toml (var_dir)")
    p.set_defaults(func=cmd_publish)
