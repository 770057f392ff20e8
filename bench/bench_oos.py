"""CLINC150 benchmark of the customer-service out-of-scope detectors (customer_service/oos.py).

    python bench/bench_oos.py                # fast mode: a few minutes on 2 cores
    python bench/bench_oos.py --mode full    # fine-tuned encoder (mean pooling); much slower

Trains on ``train`` + ``oos_train`` of data_full_trainval.json, chooses each method's threshold on
``val`` + ``oos_val`` and reports there. Because the thresholds (and the combined method's logistic
regression) are tuned on that same validation data, it also reports a 2-fold cross-fitted figure:
validation split in two halves (stratified by intent), tuned on one, measured on the other, both
ways, pooled. The classifier's own choices (regularisation, temperature) still saw all of
validation in both figures.

Per method: in-scope accuracy (an in-scope message rejected as out of scope counts as wrong),
out-of-scope precision/recall/F1, AUROC of the score, and FPR@95TPR (share of in-scope messages
flagged when the threshold catches 95% of the out-of-scope ones).

Reads ../shared/data/clinc150 (override with --data); exits 0 with a note when it is absent.
Writes bench/results/oos.json and bench/results/oos.md.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "clinc150"

from bench.machine_info import machine

COLUMNS = ("in_scope_accuracy", "oos_precision", "oos_recall", "oos_f1", "auroc", "fpr_at_95tpr")


def threshold_free(scores, is_oos) -> dict:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    scores, is_oos = np.asarray(scores), np.asarray(is_oos, bool)
    # The lowest threshold that still catches >= 95% of out-of-scope messages.
    catch_95 = np.quantile(scores[is_oos], 0.05, method="lower")
    return {"auroc": float(roc_auc_score(is_oos, scores)), "fpr_at_95tpr": float((scores[~is_oos] >= catch_95).mean())}


def evaluate_method(scorer, val, is_oos, correct, intents, *, seed: int, floor) -> dict:
    """Tuned-on-validation and 2-fold cross-fitted figures for one scorer."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from customer_service.oos import choose_threshold, outcome_rates

    tuned = copy.copy(scorer)  # fit_validation assigns new state; the detector's scorer stays as it was
    scores = tuned.fit_validation(val, is_oos)
    threshold = choose_threshold(scores, is_oos, correct, min_in_scope_accuracy=floor)
    on_val = {"threshold": threshold, **outcome_rates(scores, is_oos, correct, threshold), **threshold_free(scores, is_oos)}

    pooled_scores = np.zeros(len(is_oos))
    pooled_flags = np.zeros(len(is_oos), dtype=bool)
    folds = StratifiedKFold(2, shuffle=True, random_state=seed)
    for tune_rows, test_rows in folds.split(np.zeros(len(intents)), intents):
        half = copy.copy(scorer)
        tune_scores = half.fit_validation(val.subset(tune_rows), is_oos[tune_rows])
        t = choose_threshold(tune_scores, is_oos[tune_rows], correct[tune_rows], min_in_scope_accuracy=floor)
        pooled_scores[test_rows] = half.score(val.subset(test_rows))
        pooled_flags[test_rows] = pooled_scores[test_rows] >= t
    # outcome_rates with threshold 0.5 on 0/1 flags = the pooled per-half decisions
    cross = {**outcome_rates(pooled_flags.astype(float), is_oos, correct, 0.5), **threshold_free(pooled_scores, is_oos)}
    return {"tuned_on_validation": on_val, "cross_fitted_2fold": cross}


def knn_ablation(detector, val, is_oos, ks=(1, 5, 10, 20)) -> dict:
    base = detector.scorers_["knn"]
    out = {}
    for k in ks:
        scorer = copy.copy(base)
        scorer.k = k  # same index, another neighbour rank
        out[str(k)] = threshold_free(scorer.score(val), is_oos)["auroc"]
    return out


def run(args) -> dict:
    import numpy as np

    from customer_service.intent_files import OUT_OF_SCOPE, read_clinc150
    from customer_service.oos import OutOfScopeDetector
    from shared.finetune_config import FineTuneConfig

    splits = read_clinc150(args.data / "data_full_trainval.json")
    train, val = splits.train, splits.validation
    config = FineTuneConfig(mode=args.mode)
    results, timings = {}, {}
    val_intents = val.intents
    is_oos = np.array([label == OUT_OF_SCOPE for label in val_intents])
    detectors = {}
    for setting, oos_texts in (("with oos_train", train.oos_texts), ("no oos_train", [])):
        start = time.perf_counter()
        detector = OutOfScopeDetector(config=config, k=args.k, min_in_scope_accuracy=args.floor)
        detector.fit(train.in_scope().texts, train.in_scope().intents, oos_texts, validation=(val.texts, val.intents))
        timings[setting] = round(time.perf_counter() - start, 1)
        detectors[setting] = detector
        signals = detector.signals(val.texts)
        correct = np.array(signals.predicted_intents()) == np.array(val_intents)
        closed_set = float(correct[~is_oos].mean())
        for name, scorer in detector.scorers_.items():
            if setting == "no oos_train" and name in ("knn", "mahalanobis"):
                continue  # the same embeddings and training sentences: identical to the first setting
            row = evaluate_method(scorer, signals, is_oos, correct, val_intents, seed=args.seed, floor=args.floor)
            row["closed_set_accuracy"] = closed_set
            results[f"{name} ({setting})"] = row
        if setting == "with oos_train":
            knn_k = knn_ablation(detector, signals, is_oos)
    balanced = {name: (r["cross_fitted_2fold"]["in_scope_accuracy"] + r["cross_fitted_2fold"]["oos_recall"]) / 2 for name, r in results.items()}
    best = max(balanced, key=balanced.get)
    return {
        "benchmark": "CLINC150 val + oos_val (3,000 + 100), trained on train + oos_train (15,000 + 100)",
        "command": "python bench/bench_oos.py" + (f" --mode {args.mode}" if args.mode != "fast" else "")
        + (f" --floor {args.floor}" if args.floor is not None else "") + (f" --k {args.k}" if args.k != 10 else ""),
        "mode": args.mode,
        "threshold_criterion": "max mean of in-scope accuracy and oos recall" if args.floor is None
        else f"max oos recall with in-scope accuracy >= {args.floor}",
        "train_wall_seconds": timings,
        "methods": results,
        "best_cross_fitted": best,
        "cross_fitted_balanced": balanced,
        "knn_auroc_by_k": knn_k,
        "default_method_in_code": __import__("customer_service.oos", fromlist=["DEFAULT_METHOD"]).DEFAULT_METHOD,
    }


def pct(value: float) -> str:
    return f"{100 * value:.1f}"


def write_markdown(result: dict) -> str:
    lines = [
        "# Out-of-scope detection (CLINC150 validation)",
        "",
        f"Date: {result['date'][:10]}. Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores. "
        f"Command: `{result['command']}` (mode `{result['mode']}`; training took "
        + ", ".join(f"{s} s {k}" for k, s in result["train_wall_seconds"].items())
        + f"; load average {result['load_average_1min']['start']} at the start, {result['load_average_1min']['end']} at the end, "
        f"on {result['machine']['cores']} cores).",
        "",
        f"{result['benchmark']}. Threshold criterion: {result['threshold_criterion']}. "
        "In-scope accuracy counts an in-scope message rejected as out of scope as wrong; "
        "FPR@95TPR is the share of in-scope messages flagged when the threshold catches 95% of out-of-scope ones. "
        "All figures in %.",
        "",
    ]
    for key, title in (("cross_fitted_2fold", "2-fold cross-fitted (tuned on one half of validation, measured on the other): the honest figures"),
                       ("tuned_on_validation", "Tuned and measured on the whole validation split (optimistic)")):
        lines += [f"## {title}", "", "| method | in-scope acc | oos precision | oos recall | oos F1 | AUROC | FPR@95TPR |", "|---|---|---|---|---|---|---|"]
        for name, row in result["methods"].items():
            r = row[key]
            lines.append(f"| {name} | " + " | ".join(pct(r[c]) for c in COLUMNS) + " |")
        lines.append("")
    closed = next(iter(result["methods"].values()))["closed_set_accuracy"]
    lines += [
        f"Closed-set accuracy of the intent classifier on in-scope validation (with oos_train): {pct(closed)}%.",
        "k-NN AUROC by neighbour rank k: " + ", ".join(f"k={k}: {pct(v)}" for k, v in result["knn_auroc_by_k"].items()) + ".",
        "",
        f"Best by the criterion, cross-fitted: **{result['best_cross_fitted']}**; "
        f"`customer_service.oos.DEFAULT_METHOD` = `{result['default_method_in_code']}`.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder with data_full_trainval.json")
    parser.add_argument("--mode", choices=["fast", "full"], default="fast")
    parser.add_argument("--k", type=int, default=10, help="neighbour rank of the k-NN scorer")
    parser.add_argument("--floor", type=float, help="choose thresholds for the best oos recall at this in-scope accuracy instead")
    parser.add_argument("--seed", type=int, default=0, help="seed of the 2-fold split")
    parser.add_argument("--tag", default="", help="suffix for the result files (oos<tag>.json/.md)")
    args = parser.parse_args(argv)
    if not (args.data / "data_full_trainval.json").is_file():
        print(f"skipped: {args.data} not found (CLINC150 lives in ../shared/data)")
        return 0
    load_before = os.getloadavg()[0]
    result = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine(), **run(args)}
    # Wall times mean little on a machine shared with other jobs: record how busy it was.
    result["load_average_1min"] = {"start": round(load_before, 1), "end": round(os.getloadavg()[0], 1)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"oos{args.tag}.json").write_text(json.dumps(result, indent=1) + "\n")
    text = write_markdown(result)
    (RESULTS / f"oos{args.tag}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
