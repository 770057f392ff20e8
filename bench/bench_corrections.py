"""What analysts' sentiment corrections do to a trained model's held-out accuracy.

    python bench/bench_corrections.py --model var/fin/sent-full     # → bench/results/sentiment_corrections.{json,md}

Validation rows play three parts. Analysts read every third Twitter financial news row (i % 3 == 0) and
correct what the model got wrong there; those corrections go through
``finance_monitor.retraining.learn_corrections`` (the retrain job's code: one in four held out for the
promotion check, warm start, replay, the guard check, ONNX export) into a throwaway store. A model saved
before guards existed gets the guard ``fit`` would have kept: a uniform sample of 500 validation rows, here
from the Twitter rows i % 3 == 1 and the even PhraseBank rows. The rest (Twitter i % 3 == 2, odd PhraseBank
rows) is held out from everything: the old model, the candidate (promoted or not) and the model serving
afterwards are scored on it with the torch runtime.
Reads ../shared/data (override with --data); exits 0 with a note when absent.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine_info import machine

RESULTS = ROOT / "bench" / "results"
DEFAULT_DATA = ROOT.parent / "shared" / "data"


def accuracy(model, texts: list[str], labels: list[str]) -> float:
    predicted = [s.label for s in model.score_headlines(texts)]
    return round(sum(p == y for p, y in zip(predicted, labels)) / len(labels), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="a torch model directory from `troika finance train`")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    twitter = args.data / "twitter_financial_news_sentiment" / "validation.csv"
    phrasebank = args.data / "financial_phrasebank" / "validation.csv"
    if not (twitter.is_file() and phrasebank.is_file()):
        print(f"no validation files under {args.data}: nothing to measure")
        return

    from finance_monitor.models import model_store
    from finance_monitor.retraining import learn_corrections
    from finance_monitor.scoring.sentiment import SentimentModel
    from finance_monitor.scoring.sentiment_data import read_sentiment_files
    from shared.classifier import TextClassifier

    tw, pb = read_sentiment_files([twitter]), read_sentiment_files([phrasebank])
    def part(rows, every, *keep):
        picked = [(t, y) for i, (t, y) in enumerate(zip(rows.texts, rows.labels)) if i % every in keep]
        return [t for t, _ in picked], [y for _, y in picked]

    read = list(zip(*part(tw, 3, 0)))
    held = {"twitter_held_out": part(tw, 3, 2), "phrasebank_held_out": part(pb, 2, 1)}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="troika-corrections-") as tmp:
        base, guard_added = args.model, False
        clf = TextClassifier.load(args.model)
        if not clf.guard_data()[0]:
            import random

            rows = list(zip(*part(tw, 3, 1))) + list(zip(*part(pb, 2, 0)))
            clf.guard_ = [{"text": t, "label": y} for t, y in random.Random(42).sample(rows, min(500, len(rows)))]
            base, guard_added = clf.save(Path(tmp) / "base"), True
        old = SentimentModel(clf)  # the model just loaded (with its guard), not a second read of it
        seen = [s.label for s in old.score_headlines([t for t, _ in read])]
        corrections = [{"title": t, "label": y} for (t, y), p in zip(read, seen) if p != y]
        store = model_store(base, Path(tmp))
        outcome = learn_corrections(store, base, corrections)
        seconds = time.perf_counter() - started
        result = outcome.result
        candidate = SentimentModel.load(result.version) if result and result.version else None
        serving = SentimentModel.load(store.active()) if store.active() else old
        scores = {}
        for name, model in (("old", old), ("candidate", candidate), ("serving after the retrain", serving)):
            if model is not None:
                scores[name] = {key: accuracy(model, *rows) for key, rows in held.items()}
                scores[name]["corrected_rows"] = accuracy(model, [c["title"] for c in corrections], [c["label"] for c in corrections])
    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "command": f"python bench/bench_corrections.py --model {args.model}",
        "model": str(args.model),
        "rows_read_by_analysts": len(read),
        "corrections": outcome.corrections, "learned_from": outcome.learned_from, "held_out_for_promotion": outcome.held_out,
        "guard_added_to_old_model": guard_added,
        "promoted": bool(result and result.promoted), "promotion_check": result.summary().split("; candidate at")[0] if result else outcome.reason,
        "old_metrics": result.old_metrics if result else None, "new_metrics": result.new_metrics if result else None,
        "retrain_seconds": round(seconds, 1),
        "held_out_rows": {key: len(rows[0]) for key, rows in held.items()},
        "accuracy": scores,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sentiment_corrections.json").write_text(json.dumps(report, indent=1) + "\n")
    m = report["machine"]
    lines = [
        "# Sentiment corrections: held-out accuracy before and after learning them",
        "",
        f"Date: {report['date']}. Machine: {m['cpu']}, {m['cores']} cores (load {m['load_average_1min']}). Command: `{report['command']}`.",
        "",
        f"Analysts read {len(read)} rows of Twitter validation (i % 3 == 0) and corrected the {outcome.corrections} the model got wrong; "
        f"{outcome.learned_from} were learned, {outcome.held_out} held out for the promotion check: {report['promotion_check']} "
        f"({report['retrain_seconds']:.0f} s). Held out from everything: {len(held['twitter_held_out'][0])} Twitter rows (i % 3 == 2) "
        f"and {len(held['phrasebank_held_out'][0])} PhraseBank rows (odd)."
        + (" The model had no guard; it got 500 of the other validation rows." if guard_added else "") + " Torch runtime.",
        "",
        "| model | Twitter held out | PhraseBank held out | the corrected rows themselves |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {name} | {s['twitter_held_out']:.4f} | {s['phrasebank_held_out']:.4f} | {s['corrected_rows']:.4f} |" for name, s in scores.items()]
    lines.append("")
    (RESULTS / "sentiment_corrections.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
