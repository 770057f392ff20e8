"""BANKING77 benchmark of the shared fine-tuning core.

    python bench/bench_classifier.py train --mode full     # accuracy, macro-F1, wall time, peak memory
    python bench/bench_classifier.py train --mode fast
    python bench/bench_classifier.py latency --mode full   # torch fp32 vs ONNX int8: p50/p99, throughput, agreement
    python bench/bench_classifier.py table                 # bench/results/classifier.md from the JSON files

Reads ../shared/data/banking77 (override with --data); exits 0 with a note when it is absent.
Each step writes bench/results/classifier_<step>_<mode>.json; models go to var/bench/.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "banking77"
sys.path.insert(0, str(ROOT))

from bench.machine_info import machine
from shared.cli import add_set_option


def write(name: str, result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"date": dt.datetime.now().isoformat(timespec="seconds"), "machine": machine(), **result}
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("per_label", "machine")}, indent=1))


def train(args) -> None:
    from shared.classifier import TextClassifier
    from shared.datafiles import read_labelled
    from shared.finetune_config import FineTuneConfig, parse_overrides

    train_texts, train_labels = read_labelled(args.data / "train.csv")
    val_texts, val_labels = read_labelled(args.data / "validation.csv")
    overrides = {k: v for k, v in {"epochs": args.epochs, "learning_rate": args.lr, "pooling": args.pooling}.items() if v is not None}
    overrides |= parse_overrides(args.set)
    config = FineTuneConfig(mode=args.mode, **overrides)
    start = time.perf_counter()
    clf = TextClassifier(config=config).fit(train_texts, train_labels, eval_data=(val_texts, val_labels))
    seconds = time.perf_counter() - start
    report = clf.evaluate(val_texts, val_labels)
    clf.save(ROOT / "var" / "bench" / f"banking77-{args.mode}{args.tag}")
    write(
        f"classifier_train_{args.mode}{args.tag}",
        {
            "benchmark": "BANKING77 validation (1,003 rows), model trained on train.csv (9,000 rows)",
            "command": f"python bench/bench_classifier.py train --mode {args.mode}" + "".join(f" --set {k}={v}" for k, v in overrides.items()),
            "config": {k: v for k, v in vars(config).items()},
            "validation_accuracy": report["accuracy"],
            "validation_macro_f1": report["macro_f1"],
            "ece_before_calibration": clf.metrics.get("ece_before_calibration"),
            "ece_after_calibration": report["ece"],
            "temperature": clf.temperature,
            "linear_probe": clf.metrics.get("linear_probe"),
            "interpolation": clf.metrics.get("interpolation"),
            "train_wall_seconds": round(seconds, 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "epochs_run": max((e.get("epoch", 0) for e in getattr(clf, "training_log_", [])), default=None),
            "confused_pairs": report["confused_pairs"][:5],
        },
    )


def _latency(clf, queries: list[str], repeats: int) -> dict:
    for q in queries[:20]:
        clf.predict_proba([q])  # warm-up
    times = []
    for i in range(repeats):
        q = queries[i % len(queries)]
        t = time.perf_counter()
        clf.predict_proba([q])
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    t = time.perf_counter()
    clf.predict_proba(queries)
    batch_seconds = time.perf_counter() - t
    return {
        "single_query_p50_ms": round(statistics.median(times), 3),
        "single_query_p99_ms": round(times[int(0.99 * (len(times) - 1))], 3),
        "batch_throughput_per_s": round(len(queries) / batch_seconds, 1),
    }


def latency(args) -> None:
    from shared.classifier import TextClassifier
    from shared.datafiles import read_labelled
    from shared.onnx_runtime import OnnxClassifier, top1_agreement

    model_dir = ROOT / "var" / "bench" / f"banking77-{args.mode}"
    val_texts, val_labels = read_labelled(args.data / "validation.csv")
    clf = TextClassifier.load(model_dir)
    onnx_dir = model_dir.with_name(model_dir.name + "-onnx")
    clf.export_onnx(onnx_dir)
    fast = OnnxClassifier.load(onnx_dir, threads=args.threads)
    write(
        f"classifier_latency_{args.mode}",
        {
            "benchmark": "single-query latency and batch throughput on BANKING77 validation texts",
            "command": f"python bench/bench_classifier.py latency --mode {args.mode} --threads {args.threads} --repeats {args.repeats}",
            "queries": len(val_texts),
            "onnx_threads": args.threads,
            "torch_fp32": _latency(clf, val_texts, args.repeats),
            "onnx_int8": _latency(fast, val_texts, args.repeats),
            "onnx_top1_agreement": top1_agreement(clf, fast, val_texts),
            "onnx_validation_accuracy": fast.evaluate(val_texts, val_labels)["accuracy"],
            "torch_validation_accuracy": clf.evaluate(val_texts, val_labels)["accuracy"],
            "onnx_model_mib": round((onnx_dir / "model.onnx").stat().st_size / 2**20, 1),
        },
    )


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) and value < 1 else str(value)


def table(_args) -> None:
    rows = ["| benchmark | mode | metric | value |", "|---|---|---|---|"]
    dates, machines = set(), set()
    for path in sorted(RESULTS.glob("classifier_*.json")):
        result = json.loads(path.read_text())
        dates.add(result["date"][:10])
        machines.add(f"{result['machine']['cpu']}, {result['machine']['cores']} cores")
        mode = path.stem.rsplit("_", 1)[1]
        if path.stem.startswith("classifier_train"):
            for key in ("validation_accuracy", "validation_macro_f1", "ece_before_calibration", "ece_after_calibration", "train_wall_seconds", "peak_rss_mib"):
                rows.append(f"| train | {mode} | {key} | {_fmt(result[key])} |")
            if result.get("linear_probe"):
                rows.append(f"| train | {mode} | linear probe (frozen encoder) accuracy | {_fmt(result['linear_probe'].get('validation_accuracy'))} |")
            if result.get("interpolation"):
                rows.append(f"| train | {mode} | WiSE-FT alpha chosen | {result['interpolation']['alpha']} |")
        else:
            for runtime in ("torch_fp32", "onnx_int8"):
                for key, value in result[runtime].items():
                    rows.append(f"| latency | {mode} | {runtime} {key} | {value} |")
            rows.append(f"| latency | {mode} | onnx_top1_agreement | {result['onnx_top1_agreement']} |")
        rows.append(f"| | {mode} | command | `{result['command']}` |")
    text = "# Classifier benchmarks (BANKING77 validation)\n\n"
    text += f"Dates: {', '.join(sorted(dates))}. Machine: {'; '.join(sorted(machines))}.\n\n"
    text += (
        "`full` and `fast` are the defaults of `FineTuneConfig`; `full-A`, `full-B`, ... are tuning runs with the "
        "overrides shown in their command, kept so the choice of defaults can be checked. All figures are on the "
        "validation split, which also drove early stopping, the probe's C, the WiSE-FT alpha and the temperature.\n\n"
    )
    text += "\n".join(rows) + "\n"
    (RESULTS / "classifier.md").write_text(text)
    print(text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["train", "latency", "table"])
    parser.add_argument("--mode", choices=["full", "fast"], default="full")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with train.csv and validation.csv")
    parser.add_argument("--epochs", type=float, help="override FineTuneConfig.epochs")
    parser.add_argument("--lr", type=float, help="override FineTuneConfig.learning_rate")
    parser.add_argument("--pooling", choices=["mean", "cls"], help="override FineTuneConfig.pooling")
    add_set_option(parser)
    parser.add_argument("--tag", default="", help="suffix for the result file and model directory (for tuning runs)")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads for the latency step")
    parser.add_argument("--repeats", type=int, default=1000, help="single queries timed in the latency step")
    args = parser.parse_args(argv)
    if args.step != "table" and not (args.data / "train.csv").is_file():
        print(f"skipped: {args.data} not found (BANKING77 lives in ../shared/data)")
        return 0
    {"train": train, "latency": latency, "table": table}[args.step](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
