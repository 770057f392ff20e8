"""The two serving tiers side by side, in one run: the distilled MiniLM student and the mpnet model.

    python bench/bench_tiers.py cs --validation ../shared/data/banking77/validation.csv \\
        --tier student=var/b77-student --tier mpnet=var/b77-mpnet [--duration 10]
    python bench/bench_tiers.py finance --tier student=var/fin-student --tier mpnet=var/fin-mpnet

Per tier, what a user of that app meets, measured the way each app serves it (the ONNX export the
training command made, int8 or fp32 as its --serve said):
- cs: the figures of `troika cs evaluate --model DIR --data VAL --runtime onnx` (accuracy, in-scope accuracy,
  out-of-scope recall), then POST /cs/api/chat p50/p99 at one connection and requests/s
  (bench/bench_chat_load.py serving DIR through `troika run`, SQLite, every turn stored);
- finance: `troika finance evaluate` on PhraseBank, its agreement-100 rows and Twitter (validation splits), and
  batch scoring speed in headlines/s on the last 5,000 headlines of the dev stream;
- both: the size on disk of what is served (the ONNX export) and of the whole directory.

Writes bench/results/tiers_<app>.json and .md (date, machine, commands).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_sentiment import DEFAULT_DATA, SETS, THROUGHPUT_HEADLINES, throughput  # noqa: E402
from bench.machine_info import machine  # noqa: E402
from shared.artifacts import served_with  # noqa: E402

TROIKA = [sys.executable, "-m", "shared.cli", "--quiet"]
ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _json_of(command: list[str]) -> dict:
    import os

    done = subprocess.run(command, cwd=ROOT, env={**os.environ, **ENV}, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def size_mib(path: Path) -> float:
    return round(sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 2**20, 1)


def teacher_of(model_dir: Path) -> dict:
    """What the served classifier's metrics say of how it was made (distilled, reused, its base encoder)."""
    for metrics in (model_dir / "classifier" / "metrics.json", model_dir / "metrics.json"):
        if metrics.is_file():
            record = json.loads(metrics.read_text())
            return {"base_model": record.get("base_model"), "distillation": record.get("distillation"), "reused_from": record.get("reused_from")}
    return {}


def cs_tier(name: str, model: Path, args) -> dict:
    evaluate = [*TROIKA, "cs", "evaluate", "--model", str(model), "--data", str(args.validation), "--runtime", "onnx"]
    report = _json_of(evaluate)
    tag = f"tier_{name}"
    load = [sys.executable, "bench/bench_chat_load.py", "--model", str(model), "--connections", "1", "--duration", str(args.duration), "--tag", tag]
    subprocess.run(load, cwd=ROOT, check=True)
    chat = json.loads((ROOT / "bench" / "results" / f"chat_load_{tag}.json").read_text())["low_load"]
    onnx = model / "onnx"
    return {"model": str(model), "made": teacher_of(model), "runtime": served_with(onnx),
            "validation": {k: report[k] for k in ("n", "accuracy", "in_scope_accuracy", "oos_recall", "macro_f1")},
            "chat_p50_ms": chat["p50_ms"], "chat_p99_ms": chat["p99_ms"], "chat_requests_per_s": chat["requests_per_s"],
            "served_mib": size_mib(onnx) if onnx.is_dir() else None, "directory_mib": size_mib(model),
            "commands": [" ".join(evaluate[3:]), " ".join(load[1:])]}


def finance_tier(name: str, model: Path, args) -> dict:
    from finance_monitor.models import serving_dir
    from finance_monitor.scoring.sentiment import SentimentModel

    served = serving_dir(model)  # DIR-onnx where troika finance train exported one, as the monitor serves it
    accuracy, commands = {}, []
    for set_name, folder in SETS.items():
        command = [*TROIKA, "finance", "evaluate", "--model", str(served), "--data", str(args.data / folder / "validation.csv")]
        report = _json_of(command)
        commands.append(" ".join(command[3:]))
        accuracy[set_name] = {k: report[k] for k in ("n", "accuracy", "macro_f1", "n_agree_100", "accuracy_agree_100") if k in report}
    stream = args.data / "finance_news_stream" / "headlines_dev_until_2019-12-31.csv"
    import csv

    with stream.open(newline="", encoding="utf-8") as fh:
        headlines = [row["headline"] for row in csv.DictReader(fh)][-THROUGHPUT_HEADLINES:]
    return {"model": str(model), "served": str(served), "made": teacher_of(model), "runtime": served_with(served), "validation": accuracy,
            "headlines_per_s": throughput(SentimentModel.load(served), headlines), "throughput_headlines": len(headlines),
            "served_mib": size_mib(served), "directory_mib": size_mib(model), "commands": commands}


def markdown(report: dict) -> str:
    lines = [f"# Serving tiers side by side: {report['app']}", "",
             f"Date: {report['date'][:10]}. Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores. "
             f"Command: `{report['command']}`. Validation splits; each tier served as the app serves it (runtime).", ""]
    if report["app"] == "cs":
        lines += ["| tier | model | runtime | accuracy | in-scope accuracy | oos recall | /api/chat p50 ms | p99 ms | req/s | served MiB | dir MiB |",
                  "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, t in report["tiers"].items():
            v = t["validation"]
            fmt = lambda x: "–" if x is None else f"{x:.4f}"  # noqa: E731
            lines.append(f"| {name} | `{t['model']}` | {t.get('runtime', 'onnx-int8')} | {fmt(v['accuracy'])} | "
                         f"{fmt(v['in_scope_accuracy'])} | {fmt(v['oos_recall'])} | "
                         f"{t['chat_p50_ms']:.2f} | {t['chat_p99_ms']:.2f} | {t['chat_requests_per_s']:.0f} | {t['served_mib']} | {t['directory_mib']} |")
    else:
        lines += ["| tier | model | runtime | PhraseBank | agreement-100 | Twitter | headlines/s | served MiB | dir MiB |",
                  "|---|---|---|---:|---:|---:|---:|---:|---:|"]
        for name, t in report["tiers"].items():
            v = t["validation"]
            lines.append(f"| {name} | `{t['model']}` | {t.get('runtime', 'onnx-int8')} | {v['phrasebank']['accuracy']:.4f} | "
                         f"{v['phrasebank'].get('accuracy_agree_100', 0):.4f} | "
                         f"{v['twitter']['accuracy']:.4f} | {t['headlines_per_s']:.0f} | {t['served_mib']} | {t['directory_mib']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("app", choices=["cs", "finance"])
    parser.add_argument("--tier", action="append", required=True, metavar="NAME=DIR", help="a tier's name and model directory (repeat)")
    parser.add_argument("--validation", type=Path, help="cs: the labelled validation file")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="finance: the shared data folder")
    parser.add_argument("--duration", type=int, default=10, help="cs: seconds of load per tier")
    parser.add_argument("--tag", default="", help="results go to bench/results/tiers_<app>[_<tag>].{json,md}")
    args = parser.parse_args()
    if args.app == "cs" and not args.validation:
        parser.error("cs needs --validation")
    tiers = dict(item.split("=", 1) for item in args.tier)
    measure = cs_tier if args.app == "cs" else finance_tier
    report = {"app": args.app, "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine(with_torch=False),
              "command": "python bench/bench_tiers.py " + " ".join(sys.argv[1:]),
              "tiers": {name: measure(name, Path(path), args) for name, path in tiers.items()}}
    out = ROOT / "bench" / "results" / (f"tiers_{args.app}" + (f"_{args.tag}" if args.tag else ""))
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
