"""Finance sentiment benchmark: one model on Financial PhraseBank + Twitter financial news.

    python bench/bench_sentiment.py --mode fast                 # → bench/results/sentiment.{json,md}
    nice -n 10 python bench/bench_sentiment.py --mode full --tag full   # → sentiment_full.{json,md}

Trains on both train.csv files together (validation.csv files for early stopping and
calibration), then reports accuracy and macro-F1 on each validation file (PhraseBank overall and
on its agreement-100 rows) and batch-scoring throughput of the same model in torch fp32 and in
ONNX int8 (one timed run each, over every validation text). Reads ../shared/data (override with
--data); exits 0 with a note when it is absent. Models go to var/bench/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine_info import machine
from shared.cli import add_set_option

RESULTS = ROOT / "bench" / "results"
DEFAULT_DATA = ROOT.parent / "shared" / "data"
THROUGHPUT_HEADLINES = 5000
SETS = {"phrasebank": "financial_phrasebank", "twitter": "twitter_financial_news_sentiment"}




def throughput(model, texts: list[str]) -> float:
    model.score_headlines(texts[:64])  # warm-up: first calls allocate and load kernels
    start = time.perf_counter()
    model.score_headlines(texts)
    return round(len(texts) / (time.perf_counter() - start), 1)


def run(args) -> dict:
    from finance_monitor.scoring.sentiment import SentimentModel
    from finance_monitor.scoring.sentiment_data import read_sentiment_file
    from shared.finetune_config import config_from_cli

    files = {name: args.data / folder for name, folder in SETS.items()}
    config = config_from_cli(args.mode, args.set)
    name = "sentiment" + (f"_{args.tag}" if args.tag else "")
    model_dir = ROOT / "var" / "bench" / name

    if args.model:  # a model `troika finance train` made: score it, train nothing
        model = SentimentModel.load(args.model)
        onnx_dir = args.model.with_name(args.model.name + "-onnx")
        fast = SentimentModel.load(onnx_dir) if onnx_dir.is_dir() else model.export_onnx(model_dir.with_name(model_dir.name + "-onnx"))
        config, train_seconds = model.classifier.config, None
    else:
        start = time.perf_counter()
        model = SentimentModel.train([f / "train.csv" for f in files.values()], [f / "validation.csv" for f in files.values()],
                                     config=config, progress=not args.quiet)
        train_seconds = time.perf_counter() - start
        model.save(model_dir)
        fast = model.export_onnx(model_dir.with_name(model_dir.name + "-onnx"))

    accuracy, texts = {}, []
    for set_name, folder in files.items():
        rows = read_sentiment_file(folder / "validation.csv")
        texts += rows.texts
        for runtime, m in (("torch_fp32", model), ("onnx_int8", fast)):
            report = m.evaluate(rows)
            accuracy.setdefault(runtime, {})[set_name] = {
                k: report[k] for k in ("n", "accuracy", "macro_f1", "n_agree_100", "accuracy_agree_100", "macro_f1_agree_100") if k in report
            }
    # Throughput on what the monitor scores: real headlines (the dev stream's), else the validation texts.
    stream = args.data / "finance_news_stream" / "headlines_dev_until_2019-12-31.csv"
    if stream.is_file():
        import csv

        with stream.open(newline="", encoding="utf-8") as fh:
            headlines = [row["headline"] for row in csv.DictReader(fh)][-THROUGHPUT_HEADLINES:]
        throughput_set = f"the last {len(headlines)} headlines of {stream.name}"
    else:
        headlines, throughput_set = texts, f"the {len(texts)} validation texts"
    throughputs = {"torch_fp32": throughput(model, headlines), "onnx_int8": throughput(fast, headlines)}
    command = f"python bench/bench_sentiment.py --mode {args.mode}" + (f" --tag {args.tag}" if args.tag else "")
    command += "".join(f" --set {item}" for item in args.set) + (f" --model {args.model}" if args.model else "")
    return {
        "name": name,
        "benchmark": "one model trained on PhraseBank train (3,878) + Twitter train (8,589); scored on each validation.csv",
        "command": command,
        "config": {k: v for k, v in vars(config).items()},
        "validation": accuracy,
        "ece_before_calibration": model.classifier.metrics.get("ece_before_calibration"),
        "ece_after_calibration": model.classifier.metrics.get("ece_after_calibration"),
        "temperature": model.classifier.temperature,
        "linear_probe": model.classifier.metrics.get("linear_probe"),
        "interpolation": model.classifier.metrics.get("interpolation"),
        "epochs_run": max((e.get("epoch", 0) for e in getattr(model.classifier, "training_log_", [])), default=None),
        "train_wall_seconds": None if train_seconds is None else round(train_seconds, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "throughput_headlines": len(headlines),
        "throughput_set": throughput_set,
        "throughput_headlines_per_s": throughputs,
        "targets": {"phrasebank_accuracy": 0.86, "phrasebank_accuracy_agree_100": 0.95, "twitter_accuracy": 0.88, "onnx_headlines_per_s": 800},
    }


def markdown(result: dict) -> str:
    m = result["machine"]
    v = result["validation"]
    lines = [
        f"# Finance sentiment ({result['name']})",
        "",
        f"Date: {result['date']}. Machine: {m['cpu']}, {m['cores']} cores, load average {m['load_average_1min']} when it ended "
        "(other jobs shared the cores). Command: `" + result["command"] + "`.",
        "",
        f"One {result['config']['mode']}-mode model for both sets. "
        + (f"Training took {result['train_wall_seconds']:.0f} s. " if result["train_wall_seconds"] is not None else "Trained beforehand (see --model). ")
        +
        "The validation files also drove early stopping, model selection and the temperature.",
        "",
        "| set | rows | runtime | accuracy | macro-F1 | target (accuracy) |",
        "|---|---|---|---|---|---|",
    ]
    t = result["targets"]
    for runtime in ("torch_fp32", "onnx_int8"):
        pb, tw = v[runtime]["phrasebank"], v[runtime]["twitter"]
        lines.append(f"| PhraseBank validation, all rows | {pb['n']} | {runtime} | {pb['accuracy']:.4f} | {pb['macro_f1']:.4f} | "
                     f"≥ {t['phrasebank_accuracy']} |")
        if pb.get("accuracy_agree_100") is not None:
            lines.append(f"| PhraseBank validation, agreement 100 | {pb['n_agree_100']} | {runtime} | {pb['accuracy_agree_100']:.4f} | "
                         f"{pb['macro_f1_agree_100']:.4f} | ≥ {t['phrasebank_accuracy_agree_100']} |")
        lines.append(f"| Twitter validation | {tw['n']} | {runtime} | {tw['accuracy']:.4f} | {tw['macro_f1']:.4f} | ≥ {t['twitter_accuracy']} |")
    tp = result["throughput_headlines_per_s"]
    lines += [
        "",
        f"Batch scoring throughput, one run each over {result.get('throughput_set', 'the validation texts')} "
        f"(`score_headlines`, batches of similar length): torch fp32 **{tp['torch_fp32']}** headlines/s, "
        f"ONNX int8 **{tp['onnx_int8']}** headlines/s (target ≥ {t['onnx_headlines_per_s']} on 2 cores).",
        "",
        f"Calibration: ECE {result['ece_before_calibration']:.3f} → {result['ece_after_calibration']:.3f} (temperature {result['temperature']:.2f}).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["fast", "full"], default="fast")
    parser.add_argument("--tag", default="", help="results go to bench/results/sentiment_<tag>.{json,md}")
    add_set_option(parser)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", type=Path, help="score this trained model (and its DIR-onnx export) instead of training one")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    if not all((args.data / folder / "train.csv").is_file() for folder in SETS.values()):
        print(f"note: {args.data} lacks {' or '.join(SETS.values())}; nothing to benchmark")
        return
    result = run(args)
    result = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine(), **result}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{result['name']}.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / f"{result['name']}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
