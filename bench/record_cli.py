"""Record a `troika cs evaluate` JSON (or any CLI's JSON output) in bench/results with its command, date and machine.

    python bench/record_cli.py NAME EVAL.json --train-command "troika cs train ..." --eval-command "troika cs evaluate ..." \
        [--detector MODEL_DIR]    # also keeps the out-of-scope methods' validation rates the model chose between

Then rewrites bench/results/customer_service.md from every bench/results/cs_*.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine_info import machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name")
    parser.add_argument("report", type=Path)
    parser.add_argument("--train-command", required=True)
    parser.add_argument("--eval-command", required=True)
    parser.add_argument("--train-seconds", type=float)
    parser.add_argument("--detector", type=Path, help="model directory: its detector.json has every method's validation rates")
    args = parser.parse_args()
    result = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine(with_torch=False),
              "train_command": args.train_command, "eval_command": args.eval_command, "train_seconds": args.train_seconds,
              "report": json.loads(args.report.read_text())}
    if args.detector:
        result["oos_methods_on_validation"] = json.loads((args.detector / "detector.json").read_text())["validation"]
    out = ROOT / "bench" / "results" / f"{args.name}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out}")
    write_table()


def write_table() -> None:
    lines = ["# customer_service: `troika cs train` / `troika cs evaluate`", "",
             "Written by `bench/record_cli.py` from `bench/results/cs_*.json`; each row's commands are in its JSON.", "",
             "| run | date | machine | train s | accuracy | in_scope_accuracy | oos_recall | oos_precision | macro_f1 | answered | clarified | handed off |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    methods = []
    for path in sorted((ROOT / "bench" / "results").glob("cs_*.json")):
        r = json.loads(path.read_text())
        rep = r["report"]
        f = lambda v: "" if v is None else f"{v:.4f}"  # noqa: E731 - a cell formatter, read where it is used
        lines.append(f"| {path.stem} | {r['date'][:10]} | {r['machine']['cpu']}, {r['machine']['cores']} cores | {r.get('train_seconds') or ''} | "
                     + " | ".join(f(rep.get(k)) for k in ("accuracy", "in_scope_accuracy", "oos_recall", "oos_precision", "macro_f1",
                                                         "answered", "clarified", "handed_off")) + " |")
        for method, rates in r.get("oos_methods_on_validation", {}).items():
            methods.append(f"| {path.stem} | {method} | {rates['threshold']:.4g} | {rates['in_scope_accuracy']:.4f} | {rates['oos_recall']:.4f} | "
                           f"{rates['oos_precision']:.4f} | {rates['flagged_share']:.4f} |")
    if methods:
        lines += ["", "## Out-of-scope methods, each at the threshold chosen on the same validation split", "",
                  "In-sample for the threshold (and for the combined method's weights, which are cross-fitted): read as a comparison.", "",
                  "| run | method | threshold | in_scope_accuracy | oos_recall | oos_precision | flagged share |",
                  "|---|---|---:|---:|---:|---:|---:|", *methods]
    (ROOT / "bench" / "results" / "customer_service.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
