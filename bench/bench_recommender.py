"""Recommender baselines on the MovieLens and Amazon 2018 validation splits.

    python bench/bench_recommender.py movielens     # popularity, mean rating, frozen-text content, random
    python bench/bench_recommender.py amazon        # the same on both Amazon 2018 categories
    python bench/bench_recommender.py cli movielens Industrial_and_Scientific Office_Products
                                                    # the click model through `troika rec train` / `troika rec evaluate --json`
    python bench/bench_recommender.py table         # bench/results/recommender.md from the JSON

Reads ../shared/data (override with --data); exits 0 with a note when a data set is absent.
Results go to bench/results/recommender.json (one section per data set, replaced by each
run) and the table to bench/results/recommender.md. The frozen encoder's item vectors are
cached in var/cache/recommender/ (shared with `troika rec evaluate`) under a hash of the encoder and the item texts, so only
the first run pays for embedding.

The ``cli`` step runs the exact CLI forms of issue 7 (train on the train file, evaluate on the
validation file, the baselines popularity / ALS / frozen content fitted in the same run) and keeps
each JSON report with its commands, training time, date and machine in
bench/results/recommender_cli.json; ``--skip-train`` reuses a model already in var/models and
takes its training time from the model's own record (model.json ``fit_seconds``).

Protocols (every case built with seed --seed; ties broken at random with the same seed):

- MovieLens, ``impression`` (the MIND protocol, as in issue 7): each validation user's rated
  items form one impression, rating >= 4 a click; AUC, MRR, nDCG@5/10 per impression,
  averaged over users. The history is the user's train-period clicks.
- MovieLens, ``sampled``: each validation click against --negatives items the user rated in
  neither period, drawn uniformly from the catalogue; HR@10, nDCG@10, MRR, AUC per case,
  averaged per user, then over users.
- Scorers: ``content`` is the frozen-encoder ``ContentRecommender`` (user = mean of the
  history's item vectors, plain or recency-weighted), falling back to popularity for a user
  without history, as it does when serving; ``mean rating`` is the item's shrunk mean rating
  in the train period (no user model); ``random`` scores every candidate the same (chance).
- Amazon, ``catalogue``: each validation row's next item against the whole catalogue of its
  category, history from the row (oldest first); popularity counts the train rows' targets.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine_info import machine

RESULTS = ROOT / "bench" / "results"
CACHE = ROOT / "var" / "cache" / "recommender"  # the same cache as `troika rec evaluate` (recommender.vector_cache)
DEFAULT_DATA = ROOT.parent / "shared" / "data"
AMAZON_CATEGORIES = ("Industrial_and_Scientific", "Office_Products")
DAY = 86_400.0




def item_vectors(items, embedder, *, show_progress: bool = True) -> tuple[np.ndarray, bool]:
    """The frozen encoder's vectors of the items' documents, and whether they came from the
    cache (keyed by a hash of the encoder and every document, so a rerun on the same data
    skips the slow part)."""
    from recommender.vector_cache import cached_item_vectors

    return cached_item_vectors(items, embedder, directory=CACHE, show_progress=show_progress)


def scorers(items, train_feedback, vectors, *, half_life: float, with_mean_rating: bool) -> dict:
    """name -> score(case) for every baseline, all fitted on the same train period."""
    from recommender.baselines import ContentRecommender, PopularRecommender
    from recommender.features import mean_feedback

    ids = [i.id for i in items]
    position = {item: k for k, item in enumerate(ids)}
    popular = PopularRecommender().fit(items, train_feedback)
    plain = ContentRecommender(half_life=None).fit(items, train_feedback, vectors=vectors)
    recency = ContentRecommender(half_life=half_life).fit(items, train_feedback, vectors=vectors)

    def by_position(values):
        return lambda case: values[[position[c] for c in case.candidates]]

    result = {
        "random": lambda case: np.zeros(len(case.candidates)),
        "popularity": by_position(popular.score(ids)),
    }
    if with_mean_rating:
        result["mean rating"] = by_position(mean_feedback(train_feedback, ids))
    result["content (mean)"] = lambda case: plain.score(case.candidates, history=case.history, times=case.history_times).values
    result["content (recency)"] = lambda case: recency.score(case.candidates, history=case.history, times=case.history_times).values
    return result


def run_protocol(cases, named_scorers, *, ks, by, seed) -> dict:
    from recommender.metrics import evaluate_scores

    results = {}
    for name, score in named_scorers.items():
        start = time.perf_counter()
        results[name] = evaluate_scores(cases, score, ks=ks, by=by, seed=seed)
        results[name]["seconds"] = round(time.perf_counter() - start, 2)
        print(f"  {name:18s} " + "  ".join(f"{k}={v:.4f}" for k, v in results[name].items() if isinstance(v, float) and k != "seconds"), flush=True)
    return results


def bench_movielens(args) -> dict | None:
    from recommender.importers import import_movielens
    from recommender.splits import impression_cases, sampled_negative_cases
    from shared.embeddings import Embedder

    folder = args.data / "movielens_latest_small"
    if not (folder / "movies.csv").is_file():
        print(f"{folder}: MovieLens copy absent, skipped")
        return None
    train = import_movielens(folder, ratings=[folder / "ratings_train.csv"], tags=sorted(folder.glob("tags_train*.csv")), strict=True)
    validation = import_movielens(folder, ratings=[folder / "ratings_validation.csv"], tags=[], strict=True)
    start = time.perf_counter()
    vectors, cached = item_vectors(train.items, Embedder())
    embed_seconds = time.perf_counter() - start
    named = scorers(train.items, train.feedback, vectors, half_life=args.half_life_days * DAY, with_mean_rating=True)
    catalogue = [i.id for i in train.items]
    print("MovieLens, impression protocol:")
    impression = run_protocol(impression_cases(train.feedback, validation.feedback), named, ks=(5, 10), by="case", seed=args.seed)
    print(f"MovieLens, sampled protocol (1 + {args.negatives}):")
    sampled_cases = sampled_negative_cases(train.feedback, validation.feedback, catalogue, n_negatives=args.negatives, seed=args.seed)
    sampled = run_protocol(sampled_cases, named, ks=(10,), by="user", seed=args.seed)
    return {
        "data": f"{folder}: {len(train.items)} items (text: title, genres, train-period tags), {len(train.feedback)} train / "
                f"{len(validation.feedback)} validation ratings, click = rating >= 4",
        "protocols": {
            "impression": {"description": "each validation user's rated items are one impression (click = rating >= 4); mean over users",
                           "results": impression},
            "sampled": {"description": f"each validation click + {args.negatives} items unrated by the user in both periods, "
                                       f"sampled with seed {args.seed}; mean per user, then over users",
                        "results": sampled},
        },
        "embedding_seconds": round(embed_seconds, 1),
        "vectors_from_cache": cached,
        "content_half_life_days": args.half_life_days,
    }


def bench_amazon(args) -> dict | None:
    from recommender.importers import import_amazon
    from recommender.splits import next_item_cases
    from shared.embeddings import Embedder

    folder = args.data / "amazon2018_industrial_office"
    if not folder.is_dir():
        print(f"{folder}: Amazon 2018 copy absent, skipped")
        return None
    embedder = Embedder()
    sections = {}
    for category in args.categories:
        data = import_amazon(folder / f"items_{category}.json", folder / f"train_{category}.csv",
                             folder / f"validation_{category}.csv", strict=True)
        n_train = data.reports[1].imported
        start = time.perf_counter()
        vectors, cached = item_vectors(data.items, embedder)
        embed_seconds = time.perf_counter() - start
        # Positions stand in for times in Amazon histories: the half-life is in steps.
        named = scorers(data.items, data.feedback[:n_train], vectors, half_life=args.half_life_steps, with_mean_rating=False)
        cases = next_item_cases(data.cases[n_train:], [i.id for i in data.items])
        print(f"Amazon {category}, whole-catalogue protocol ({len(data.items)} items):")
        sections[category] = {
            "description": f"each of the {len(cases)} validation rows' next item against all {len(data.items)} items; "
                           f"history from the row; popularity from the {n_train} train rows; mean over rows",
            "results": run_protocol(cases, named, ks=(10,), by="case", seed=args.seed),
            "embedding_seconds": round(embed_seconds, 1),
            "vectors_from_cache": cached,
        }
    return {"data": str(folder), "protocols": sections, "content_half_life_steps": args.half_life_steps}


def _cli_commands(name: str, data: Path) -> tuple[list[str], list[str], Path]:
    """The issue's exact train / evaluate forms for one data set, with paths as a user types them."""
    rel = os.path.relpath(data, ROOT)
    model = Path("var") / "models" / f"rec-{name}"
    if name == "movielens":
        folder = f"{rel}/movielens_latest_small"
        source = ["--movielens", folder]
        train, test = f"{folder}/ratings_train.csv", f"{folder}/ratings_validation.csv"
    else:
        folder = f"{rel}/amazon2018_industrial_office"
        source = ["--amazon", f"{folder}/items_{name}.json"]
        train, test = f"{folder}/train_{name}.csv", f"{folder}/validation_{name}.csv"
    train_cmd = ["troika", "rec", "train", *source, "--train", train, "--out", str(model)]
    eval_cmd = ["troika", "rec", "evaluate", "--model", str(model), *source, "--train", train, "--test", test, "--json"]
    return train_cmd, eval_cmd, model


def bench_cli(args) -> None:
    troika = str(Path(sys.executable).with_name("troika"))
    path = RESULTS / "recommender_cli.json"
    for name in args.names:
        train_cmd, eval_cmd, model = _cli_commands(name, args.data)
        if not (args.skip_train and (ROOT / model / "model.json").is_file()):
            start = time.perf_counter()
            subprocess.run([troika, *train_cmd[1:]], cwd=ROOT, check=True)
            train_seconds, timed_by = round(time.perf_counter() - start, 1), "wall clock of the train command"
        else:
            train_seconds, timed_by = json.loads((ROOT / model / "model.json").read_text())["fit_seconds"], "the model's fit_seconds (reused model)"
        load_after_train = round(os.getloadavg()[0], 2)
        out = subprocess.run([troika, *eval_cmd[1:]], cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
        report = json.loads(out)
        model_info = json.loads((ROOT / model / "model.json").read_text())
        everything = json.loads(path.read_text()) if path.is_file() else {}
        everything[name] = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine(),
                            "train_command": " ".join(map(shlex.quote, train_cmd)), "eval_command": " ".join(map(shlex.quote, eval_cmd)),
                            "train_seconds": train_seconds, "train_timed_by": timed_by, "load_average_after_train": load_after_train,
                            "model": {k: model_info.get(k) for k in ("half_life", "tuning", "encoder", "timings")}, "report": report}
        RESULTS.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(everything, indent=1) + "\n")
        print(f"{name}: AUC {report['auc']:.4f}, nDCG@10 {report['ndcg@10']:.4f}, hit@10 {report['hit@10']:.4f}; "
              f"margin over the best baseline {report.get('margin_over_best_baseline')}", flush=True)
    table(None)


def _cli_table() -> list[str]:
    path = RESULTS / "recommender_cli.json"
    if not path.is_file():
        return []
    lines = ["## click model (`troika rec train` / `troika rec evaluate --json`)", "",
             "Written by `python bench/bench_recommender.py cli NAME...` from `recommender_cli.json` (each run's exact commands,",
             "the model's tuning figures and per-step training times are there). Model and baselines are scored on the same",
             "cases in one run: MovieLens on the impression protocol, Amazon on the whole catalogue.", ""]
    for name, run in json.loads(path.read_text()).items():
        m, report = run["machine"], run["report"]
        lines += [f"### {name}", "", f"Date {run['date']}; {m['cpu']}, {m['cores']} cores (load average {run.get('load_average_after_train')} "
                  f"{'after training' if 'wall clock' in run['train_timed_by'] else 'before evaluating'}, "
                  f"{m.get('load_average_1min')} at the end: the machine was shared). Training took "
                  f"{run['train_seconds']} s ({run['train_timed_by']}; steps: {run['model'].get('timings')}).", "",
                  f"    {run['train_command']}", f"    {run['eval_command']}", "",
                  f"{report['cases']} cases ({report['protocol']}).", "",
                  "| scorer | " + " | ".join(METRIC_ORDER) + " |", "|---|" + "---:|" * len(METRIC_ORDER)]
        for scorer, values in [("click model", report), *report.get("baselines", {}).items()]:
            lines.append(f"| {scorer} | " + " | ".join(f"{values[k]:.4f}" for k in METRIC_ORDER) + " |")
        if "margin_over_best_baseline" in report:
            lines.append("| margin over the best baseline | " + " | ".join(f"{report['margin_over_best_baseline'][k]:+.4f}" for k in METRIC_ORDER) + " |")
        lines.append("")
    return lines


def save(name: str, section: dict, command: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "recommender.json"
    everything = json.loads(path.read_text()) if path.is_file() else {}
    everything[name] = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine(),
                        "command": command, **section}
    path.write_text(json.dumps(everything, indent=1) + "\n")
    table(None)


METRIC_ORDER = ("auc", "mrr", "ndcg@5", "ndcg@10", "hit@10")


def _vectors_note(block: dict) -> str:
    if "vectors_from_cache" not in block:
        return ""
    if block["vectors_from_cache"]:
        return " Item vectors read from the cache (a run without it embeds every item first)."
    return f" Item vectors embedded in {block['embedding_seconds']} s."


def table(_args) -> None:
    path = RESULTS / "recommender.json"
    if not path.is_file():
        print("no results yet")
        return
    everything = json.loads(path.read_text())
    lines = ["# Recommender benchmarks (validation splits)", "",
             "Written by `bench/bench_recommender.py` from `recommender.json`; the protocols are described in that",
             "script's docstring and in each section below. `random` is the chance level of each protocol.", ""]
    for name, run in everything.items():
        m = run["machine"]
        lines += [f"## {name}", "", f"Date {run['date']}; {m['cpu']}, {m['cores']} cores "
                  f"(load average {m.get('load_average_1min_at_end', m.get('load_average_1min'))} at the end: the machine was shared); command "
                  f"`{run['command']}`; {run.get('wall_seconds')} s in all.", "", run["data"] + "." + _vectors_note(run), ""]
        for protocol, block in run["protocols"].items():
            results = block["results"]
            metrics = [k for k in METRIC_ORDER if k in next(iter(results.values()))]
            any_result = next(iter(results.values()))
            lines += [f"### {protocol}", "", block["description"] + f" ({any_result['cases']} cases, {any_result['users']} users)."
                      + _vectors_note(block), "",
                      "| scorer | " + " | ".join(metrics) + " |", "|---|" + "---:|" * len(metrics)]
            for scorer, values in results.items():
                lines.append(f"| {scorer} | " + " | ".join(f"{values[k]:.4f}" for k in metrics) + " |")
            lines.append("")
    lines += _cli_table()
    (RESULTS / "recommender.md").write_text("\n".join(lines))
    print(f"wrote {RESULTS / 'recommender.md'}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder holding the shared data sets")
    parser.add_argument("--seed", type=int, default=0)
    sub = parser.add_subparsers(dest="step", required=True)
    movielens = sub.add_parser("movielens")
    movielens.add_argument("--negatives", type=int, default=99)
    movielens.add_argument("--half-life-days", type=float, default=30.0)
    amazon = sub.add_parser("amazon")
    amazon.add_argument("--categories", nargs="+", default=list(AMAZON_CATEGORIES))
    amazon.add_argument("--half-life-steps", type=float, default=3.0)
    cli = sub.add_parser("cli")
    cli.add_argument("names", nargs="+", choices=["movielens", *AMAZON_CATEGORIES])
    cli.add_argument("--skip-train", action="store_true", help="reuse var/models/rec-NAME when it exists")
    sub.add_parser("table")
    args = parser.parse_args(argv)
    if args.step == "table":
        table(args)
        return 0
    if args.step == "cli":
        bench_cli(args)
        return 0
    command = "python bench/bench_recommender.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    start = time.perf_counter()
    section = (bench_movielens if args.step == "movielens" else bench_amazon)(args)
    if section is not None:
        section["wall_seconds"] = round(time.perf_counter() - start, 1)
        save(args.step, section, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
