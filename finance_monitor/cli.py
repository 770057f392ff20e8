"""``troika finance ...``: the finance sentiment model, the backtest, and the monitor itself.

    troika finance train --train F [F ...] --validation F [F ...] [--mode full|fast] --out DIR
    troika finance train --train F [F ...] --validation F [F ...] --teacher mpnet [--unlabelled F] --out DIR
    troika finance evaluate --model DIR --data F
    troika finance replay --model DIR --data STREAM.csv [--from DATE] [--to DATE] [--config troika.toml] [--json] [--strict]
    troika finance scrape-once [--config troika.toml] [--source NAME]
    troika finance retrain [--config troika.toml] [--tolerance 0.0]
    troika finance run [--config troika.toml]

``replay`` serves the ONNX export when ``--model`` is one or ``DIR-onnx`` exists beside it (else
torch); it prints the alerts as a table, or with ``--json`` as ``{"alerts": [...], "skipped_rows": {...}}``
(stdout holds only the JSON; bad rows skipped, ignored columns and the one-line summary go to stderr). Its
detection settings are the server's (``backtest.replay_settings``): exactly the server's for a file it polls
(the demo stream when no sources are configured), the configured rules on daily buckets for an archive. ``scrape-once`` polls the configured sources once and
stores what they give; ``run`` runs the scheduler in the foreground until Ctrl-C.

Files are PhraseBank-style (``sentence,label,agreement``) or Twitter-style (``text,label`` with
0/1/2), recognised by their columns (see ``sentiment_data``). Errors are raised as TroikaError,
which ``shared.cli.main`` prints as one line with exit status 2.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
from pathlib import Path

from shared.artifacts import SERVE_RUNTIMES
from shared.cli import add_serve_option, add_set_option, add_strict_option, add_teacher_options, distillation_plan, made_phrase
from shared.datafiles import print_skipped_rows
from shared.encoder import BASE_MODEL_HELP

EXAMPLES = """examples:
  troika finance train --mode fast --out var/models/sentiment \\
      --train ../shared/data/financial_phrasebank/train.csv ../shared/data/twitter_financial_news_sentiment/train.csv \\
      --validation ../shared/data/financial_phrasebank/validation.csv ../shared/data/twitter_financial_news_sentiment/validation.csv
  troika finance evaluate --model var/models/sentiment --data ../shared/data/financial_phrasebank/validation.csv
  troika finance replay --model var/finance_monitor/demo-sentiment-* --data finance_monitor/demo/stream.csv  # the server's alerts
  troika finance replay --model var/models/sentiment \\
      --data ../shared/data/finance_news_stream/headlines_dev_until_2019-12-31.csv --from 2018-01-01 --json > alerts.json
  troika finance scrape-once --config troika.toml            # poll every [[finance_monitor.sources]] once
  troika finance retrain --config troika.toml                # learn analysts' corrections now; promote if not worse
  troika finance run --config troika.toml                    # the scheduler alone, until Ctrl-C
"""


def cmd_train(args) -> str:
    from shared.distillation import summary as distillation_summary
    from shared.finetune_config import config_from_cli

    from .scoring.sentiment import SentimentModel

    config = config_from_cli(args.mode, args.set, epochs=args.epochs, seed=args.seed)
    reports: list = []
    plan = distillation_plan(args, reports, args.strict)
    start = time.perf_counter()
    model = SentimentModel.train(args.train, args.validation, config=config, base_model=args.base_model, progress=not args.quiet,
                                 reports=reports, strict=args.strict, distillation=plan)
    out = model.save(args.out)
    clf = model.classifier
    summary = f"{made_phrase(clf.metrics, args.mode, 'sentiment')} on {clf.metrics['train_examples']} examples from {len(args.train)} file(s)"
    validation = clf.metrics.get("validation")
    if validation:
        summary += f"; validation accuracy {validation['accuracy']:.4f}, macro-F1 {validation['macro_f1']:.4f}"
    summary += f", in {time.perf_counter() - start:.0f}s" + distillation_summary(clf.metrics) + f" → {out}"
    quantize = SERVE_RUNTIMES["torch" if args.no_onnx else args.serve]
    if quantize is not None:
        onnx_dir = out.with_name(out.name + "-onnx")
        model.export_onnx(onnx_dir, quantize=quantize)
        summary += f" ({'int8' if quantize else 'fp32'} ONNX for serving → {onnx_dir})"
    return summary + print_skipped_rows(reports)


def cmd_evaluate(args) -> None:
    from shared.datafiles import RowReport

    from .scoring.sentiment import SentimentModel
    from .scoring.sentiment_data import read_sentiment_file

    skipped = RowReport(str(args.data), strict=args.strict)
    rows = read_sentiment_file(args.data, skipped)  # read first: a bad file fails before a model loads
    report = SentimentModel.load(args.model).evaluate(rows)
    print(json.dumps(report, indent=1, ensure_ascii=False))
    summary = f"{report['n']} examples: accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}"
    if report.get("accuracy_agree_100") is not None:
        summary += f", accuracy on the {report['n_agree_100']} agreement-100 rows {report['accuracy_agree_100']:.4f}"
    # stdout carries only the JSON, so the summary goes to stderr (as `troika evaluate-classifier` does).
    print(summary + print_skipped_rows([skipped]), file=sys.stderr)


def _date(text: str) -> dt.datetime:
    """A --from/--to value: a date (midnight UTC) or an ISO 8601 time (UTC when it has no offset)."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD) or ISO 8601 time") from None
    return moment.replace(tzinfo=dt.UTC) if moment.utcoffset() is None else moment.astimezone(dt.UTC)


def _config(args):
    from shared.config import load_config

    return load_config(args.config)


def alerts_table(alerts: list[dict]) -> str:
    """The replay's alerts as a plain-text table (headline cut to fit a terminal)."""
    head = ("topic", "started_at", "resolved_at", "severity", "neg/total", "p", "top negative headline")
    rows = [head]
    for a in alerts:
        ev = a["evidence"]
        top = (ev.get("top_negative_headlines") or [""])[0]
        rows.append((a["topic"], a["started_at"][:16], (a["resolved_at"] or "firing")[:16], a["severity"],
                     f"{ev.get('negative', '?')}/{ev.get('total', '?')}", f"{ev.get('p_value', 1):.1e}", top[:60]))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(head) - 1)]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)) + "  " + str(r[-1]) for r in rows)


def cmd_replay(args) -> None:
    from shared.artifacts import MANIFEST
    from shared.datafiles import RowReport
    from shared.errors import ConfigError

    from .backtest import replay_settings, replay_stream
    from .detect.buckets import PRECISION_SPAN
    from .models import serving_dir, topic_encoder, topic_encoder_dir
    from .scoring.sentiment import SentimentModel
    from .scoring.topics import TopicAssigner

    if not args.data.is_file():
        raise ConfigError(f"--data {args.data}: no such file")
    if not args.model.is_dir():
        raise ConfigError(f"--model {args.model}: no such directory (train one with `troika finance train`)")
    if args.start and args.end and args.start >= args.end:
        raise ConfigError("--from must be before --to")
    config = _config(args)
    chosen = replay_settings(config.section("finance_monitor"), args.data, admin_token=config.admin_token, bucket=args.bucket)
    settings = chosen.monitor
    model_dir = serving_dir(args.model)
    model = SentimentModel.load(model_dir)
    threshold = None if args.rules_only else settings.topic_threshold
    # A file the server polls gets the server's own topic encoder (torch), so topics match it to the last
    # decimal; an archive of many thousands of headlines gets its int8 ONNX export, for speed.
    onnx = chosen.live_source is None
    if threshold is not None and onnx and not (topic_encoder_dir(config) / MANIFEST).is_file():
        print(f"exporting the topic encoder to ONNX int8, once (about a minute) → {topic_encoder_dir(config)}", file=sys.stderr, flush=True)
    encoder = topic_encoder(config, onnx=onnx) if threshold is not None else None
    assigner = TopicAssigner(settings.topics, encoder, threshold=threshold)
    report = RowReport(str(args.data), strict=args.strict)
    result = replay_stream(args.data, model=model, settings=settings, assigner=assigner, start=args.start, end=args.end,
                           progress=not args.quiet, report=report)
    alerts = result.alert_dicts()
    # The JSON used to be a bare list of alerts; it is an object now so the skipped rows can sit beside them.
    document = {"alerts": alerts, "skipped_rows": report.as_dict()}
    print(json.dumps(document, indent=1, ensure_ascii=False) if args.json else alerts_table(alerts))
    skipped = print_skipped_rows([report])
    summary = result.summary() + f"; model {model_dir}; {chosen.describe()}"
    if settings.bucket < PRECISION_SPAN["day"]:
        summary += " (rows with only a date are left out of hourly buckets)"
    print(summary + skipped, file=sys.stderr)


def cmd_scrape_once(args) -> str:
    from .pipeline import Monitor

    monitor = Monitor.from_config(_config(args), progress=not args.quiet)
    names = [args.source] if args.source else [s.name for s in monitor.settings.sources]
    reports = []
    for name in names:
        monitor.settings.source(name)  # an unknown name is a ConfigError before anything is fetched
        reports.append(monitor.poll(name))
        print(reports[-1].summary())
    failed = [r.source for r in reports if r.outcome in ("error", "skipped")]
    summary = f"polled {len(reports)} source(s): {sum(r.new for r in reports)} new article(s), {sum(r.scored for r in reports)} scored"
    return summary + (f"; failed: {', '.join(failed)}" if failed else "")


def cmd_retrain(args) -> str:
    """What the scheduled retrain job does, once and now."""
    from .pipeline import Monitor

    monitor = Monitor.from_config(_config(args), progress=not args.quiet)
    try:
        outcome = monitor.retrain(tolerance=args.tolerance)
    finally:
        monitor.shutdown()
    details = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in outcome.items() if k != "status")
    return f"retrain: {outcome['status']}" + (f" ({details})" if details else "")


def cmd_run(args) -> str:
    import signal
    import threading

    from shared.errors import ConfigError

    from .pipeline import Monitor

    config = _config(args)
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    monitor = Monitor.from_config(config, progress=not args.quiet)
    if not monitor.start():
        raise ConfigError("another scheduler already runs for this database (a `troika run` or `troika finance run`); "
                          "only one may run per deployment")
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    jobs = ", ".join(j["id"] for j in monitor.scheduler.jobs())
    print(f"scheduler running: {jobs}; press Ctrl+C to stop", flush=True)
    try:
        while not stop.wait(0.5):
            if not monitor.scheduler.running:  # lost its lock to another scheduler
                break
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        print("stopping: waiting for running jobs...", file=sys.stderr, flush=True)
        monitor.shutdown(wait=True)
    return "scheduler stopped"


def register(subparsers) -> None:
    finance = subparsers.add_parser(
        "finance", help="finance news monitor: sentiment model, backtest, scraping and the scheduler", epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter
    )
    verbs = finance.add_subparsers(dest="finance_command", metavar="VERB", required=True)
    _add_model_verbs(verbs)
    _add_monitor_verbs(verbs)


def _add_model_verbs(verbs) -> None:
    """train, evaluate and replay: a sentiment model and a backtest, no database."""
    p = verbs.add_parser(
        "train",
        help="train one sentiment model on PhraseBank- and Twitter-style files",
        description="Train one negative/neutral/positive model on every --train file together. Each file is PhraseBank-style "
        "(sentence,label,agreement) or Twitter-style (text,label with 0 Bearish, 1 Bullish, 2 Neutral).",
    )
    p.add_argument("--train", type=Path, nargs="+", required=True, metavar="F", help="training files")
    p.add_argument("--validation", type=Path, nargs="+", required=True, metavar="F", help="validation files (early stopping and calibration)")
    p.add_argument("--mode", choices=["full", "fast"], default="full", help="full: fine-tune every weight (best quality); fast: frozen encoder + linear head")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="model directory to write; the ONNX export goes to DIR-onnx")
    p.add_argument("--epochs", type=float, help="maximum epochs in full mode (early stopping may end sooner)")
    p.add_argument("--seed", type=int, help="random seed")
    add_set_option(p)
    p.add_argument("--base-model", help=BASE_MODEL_HELP)
    add_teacher_options(p)
    add_serve_option(p, "its export goes to DIR-onnx")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX export (the same as --serve torch)")
    p.add_argument("--strict", action="store_true", help="stop at the first row with an unknown label instead of skipping and counting it")
    p.set_defaults(func=cmd_train)

    p = verbs.add_parser("evaluate", help="JSON metrics of a sentiment model on a labelled file")
    p.add_argument("--model", type=Path, required=True, metavar="DIR", help="model directory (torch, or its -onnx export)")
    p.add_argument("--data", type=Path, required=True, metavar="F", help="PhraseBank- or Twitter-style file")
    p.add_argument("--strict", action="store_true", help="stop at the first row with an unknown label instead of skipping and counting it")
    p.set_defaults(func=cmd_evaluate)

    p = verbs.add_parser(
        "replay", help="backtest: the whole pipeline over a timestamped CSV in simulated time; print the alerts",
        description="Read a news stream CSV (published_at,time_precision,source,ticker,headline,description), deduplicate, "
        "score every headline once in batches, assign topics, and run the live detection code over per-topic buckets "
        "with a fresh alert book, in simulated time (no sleeping, no database). Topics, detector, alert policy and bucket "
        "come from [finance_monitor] of --config, read as the server reads it: a file the server polls as a replay source "
        "(finance_monitor/demo/stream.csv when no sources are configured) gets the server's exact settings (for the demo: "
        "its small detector and hourly buckets), so the replay raises the alerts the server raises on it; any other file "
        "is an archive: the configured topics, rules and alert policy, daily buckets unless the table sets bucket.",
        epilog="examples:\n  troika finance replay --model var/finance_monitor/demo-sentiment-* --data finance_monitor/demo/stream.csv\n"
        "  troika finance replay --model var/models/sentiment --data stream.csv --from 2019-05-01 --to 2019-06-01\n"
        "  troika finance replay --model var/models/sentiment-onnx --data stream.csv --json > alerts.json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, metavar="DIR",
                   help="sentiment model directory; its ONNX export (DIR itself, or DIR-onnx beside it) is used when there is one")
    p.add_argument("--data", type=Path, required=True, metavar="STREAM.csv", help="timestamped CSV in the finance_news_stream format")
    p.add_argument("--from", dest="start", type=_date, metavar="DATE", help="judge windows from this date (earlier rows still form the baseline)")
    p.add_argument("--to", dest="end", type=_date, metavar="DATE", help="stop before this date")
    p.add_argument("--config", type=Path, help="troika.toml whose [finance_monitor] table sets topics, detector, alerts, bucket")
    p.add_argument("--bucket", choices=["hour", "day"], help="bucket size, overriding the config's (default: the config's; for an archive without one, day)")
    p.add_argument("--rules-only", action="store_true", help="assign topics by keywords and tickers only (no embedding similarity; faster)")
    p.add_argument("--json", action="store_true",
                   help='print JSON: {"alerts": [topic, started_at, resolved_at, severity, evidence, ...], "skipped_rows": {count, rows, ignored_columns}}')
    add_strict_option(p)
    p.set_defaults(func=cmd_replay)


def _add_monitor_verbs(verbs) -> None:
    """scrape-once, retrain and run: the monitor's jobs on its database."""
    p = verbs.add_parser(
        "scrape-once", help="poll every configured source (or one) once, store, score, and print a line per source",
        description="One poll of each [[finance_monitor.sources]] of --config, as its scheduled job would do it: conditional "
        "fetch, parse, deduplicate, store, score and assign topics. A failing source is reported and does not stop the others.",
        epilog="examples:\n  troika finance scrape-once --config troika.toml\n  troika finance scrape-once --source wire",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, help="troika.toml to read (default: ./troika.toml if present; none: the demo source)")
    p.add_argument("--source", metavar="NAME", help="poll only this source")
    p.set_defaults(func=cmd_scrape_once)

    p = verbs.add_parser(
        "retrain", help="learn the analysts' sentiment corrections now; serve the result only when it is not worse",
        description="What the retrain job (retrain_every) does, once: the corrections stored in the database train a candidate "
        "from the active sentiment model; one correction in four of each label is held out to compare the two; a candidate "
        "that is not worse is exported to ONNX int8 and activated, and running servers pick it up without a restart. "
        "Only the 3 newest versions are kept.",
        epilog="example:\n  troika finance retrain --config troika.toml", formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, help="troika.toml to read (default: ./troika.toml if present)")
    p.add_argument("--tolerance", type=float, default=0.0, metavar="T",
                   help="how much lower the candidate's held-out accuracy may be and still be served (default 0)")
    p.set_defaults(func=cmd_retrain)

    p = verbs.add_parser(
        "run", help="run the monitor's scheduler in the foreground until Ctrl+C",
        description="Start the scheduler (a job per source, detection, optional retraining; jobs kept in the database) "
        "and keep it running until Ctrl+C or SIGTERM, then stop cleanly: running jobs finish, the lock is released. "
        "Only one scheduler runs per database: a second one exits with an error.",
        epilog="example:\n  troika finance run --config troika.toml", formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, help="troika.toml to read (default: ./troika.toml if present)")
    p.set_defaults(func=cmd_run)
