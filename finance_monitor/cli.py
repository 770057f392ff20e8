"""``troika finance ...``: train and evaluate the finance sentiment model.

    troika finance train --train F [F ...] --validation F [F ...] [--mode full|fast] --out DIR
    troika finance evaluate --model DIR --data F

Files are PhraseBank-style (``sentence,label,agreement``) or Twitter-style (``text,label`` with
0/1/2), recognised by their columns (see ``sentiment_data``). Errors are raised as TroikaError,
which ``shared.cli.main`` prints as one line with exit status 2.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

EXAMPLES = """examples:
  troika finance train --mode fast --out var/models/sentiment \\
      --train ../shared/data/financial_phrasebank/train.csv ../shared/data/twitter_financial_news_sentiment/train.csv \\
      --validation ../shared/data/financial_phrasebank/validation.csv ../shared/data/twitter_financial_news_sentiment/validation.csv
  troika finance evaluate --model var/models/sentiment --data ../shared/data/financial_phrasebank/validation.csv
"""


def cmd_train(args) -> str:
    from shared.classifier import FineTuneConfig

    from .sentiment import SentimentModel

    overrides = {"epochs": args.epochs, "seed": args.seed}
    config = FineTuneConfig(mode=args.mode, **{k: v for k, v in overrides.items() if v is not None})
    start = time.perf_counter()
    model = SentimentModel.train(args.train, args.validation, config=config, base_model=args.base_model, progress=not args.quiet)
    out = model.save(args.out)
    clf = model.classifier
    summary = f"trained a {args.mode} sentiment model on {clf.metrics_['train_examples']} examples from {len(args.train)} file(s)"
    validation = clf.metrics_.get("validation")
    if validation:
        summary += f"; validation accuracy {validation['accuracy']:.4f}, macro-F1 {validation['macro_f1']:.4f}"
    summary += f", in {time.perf_counter() - start:.0f}s → {out}"
    if not args.no_onnx:
        onnx_dir = out.with_name(out.name + "-onnx")
        model.export_onnx(onnx_dir)
        summary += f" (int8 ONNX for serving → {onnx_dir})"
    return summary


def cmd_evaluate(args) -> None:
    from .sentiment import SentimentModel
    from .sentiment_data import read_sentiment_file

    rows = read_sentiment_file(args.data)  # read first: a bad file fails before a model loads
    report = SentimentModel.load(args.model).evaluate(rows)
    print(json.dumps(report, indent=1, ensure_ascii=False))
    summary = f"{report['n']} examples: accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}"
    if report.get("accuracy_agree_100") is not None:
        summary += f", accuracy on the {report['n_agree_100']} agreement-100 rows {report['accuracy_agree_100']:.4f}"
    # stdout carries only the JSON, so the summary goes to stderr (as `troika evaluate-classifier` does).
    print(summary, file=sys.stderr)


def register(subparsers) -> None:
    import argparse

    finance = subparsers.add_parser(
        "finance", help="finance news monitor: sentiment model", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    verbs = finance.add_subparsers(dest="finance_command", metavar="VERB", required=True)

    p = verbs.add_parser(
        "train",
        help="train one sentiment model on PhraseBank- and Twitter-style files",
        description="Train one negative/neutral/positive model on every --train file together. Each file is PhraseBank-style "
        "(sentence,label,agreement) or Twitter-style (text,label with 0 Bearish, 1 Bullish, 2 Neutral).",
    )
    p.add_argument("--train", type=Path, nargs="+", required=True, metavar="F", help="training files")
    p.add_argument("--validation", type=Path, nargs="+", required=True, metavar="F", help="validation files (early stopping and calibration)")
    p.add_argument("--mode", choices=["full", "fast"], default="full", help="full: fine-tune every weight (best quality); fast: frozen encoder + linear head")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="model directory to write; the int8 ONNX export goes to DIR-onnx")
    p.add_argument("--epochs", type=float, help="maximum epochs in full mode (early stopping may end sooner)")
    p.add_argument("--seed", type=int, help="random seed")
    p.add_argument("--base-model", help="local Hugging Face model directory to start from (default: packaged all-MiniLM-L6-v2)")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX export")
    p.set_defaults(func=cmd_train)

    p = verbs.add_parser("evaluate", help="JSON metrics of a sentiment model on a labelled file")
    p.add_argument("--model", type=Path, required=True, metavar="DIR", help="model directory (torch, or its -onnx export)")
    p.add_argument("--data", type=Path, required=True, metavar="F", help="PhraseBank- or Twitter-style file")
    p.set_defaults(func=cmd_evaluate)
