"""Does fine-tuning the retrieval encoder earn its place? Recall@1/@5 frozen vs fine-tuned, on held-out data.

    python bench/bench_retrieval.py [--per-intent 20] [--epochs 1] [--held-out 20]

The knowledge base: bench/data/help_centre_articles.csv, one help-centre article (question +
answer, written for this benchmark) per BANKING77 intent, 77 in all. Queries are real customer
messages from ../shared/data/banking77: a message's right article is its intent's.

Held out twice over:
- ``unseen articles``: ``--held-out`` articles (chosen at random, seed 0) never appear in training;
  their validation messages are searched against all 77 articles: does tuning carry over to new
  knowledge-base entries?
- ``seen articles, new messages``: validation messages of the other articles (whose training
  messages the encoder was tuned on).

Training pairs: up to ``--per-intent`` training messages per seen article, paired with it, through
``shared.biencoder.train_biencoder`` (MultipleNegativesRankingLoss, in-batch negatives). The
retrieval threshold is also chosen on the unseen articles' messages (``policy.choose_retrieval_threshold``:
a right article earns 1, a wrong one costs 2), for the frozen and the tuned encoder.

Writes bench/results/retrieval.json and retrieval.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine_info import machine

DATA = ROOT.parent / "shared" / "data" / "banking77"
KB = ROOT / "bench" / "data" / "help_centre_articles.csv"


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def best_hits(embedder, queries: list[str], ids: list[str], texts: list[str]) -> tuple[list[str], np.ndarray]:
    from shared.embeddings import VectorIndex

    index = VectorIndex(len(embedder.encode(["probe"])[0]), kind="exact").add(ids, embedder.encode(texts))
    hits = index.search(embedder.encode(queries), k=1)
    return [h[0].id for h in hits], np.array([h[0].score for h in hits])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-intent", type=int, default=20, help="training messages per seen article")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--held-out", type=int, default=20, help="articles kept out of training")
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"{DATA} not found: the benchmark reads BANKING77 from ../shared/data")

    from customer_service.policy import choose_retrieval_threshold
    from shared.biencoder import BiEncoderConfig, retrieval_recall, train_biencoder
    from shared.embeddings import Embedder

    articles = read_rows(KB)
    ids = [a["intent"] for a in articles]
    texts = [f"{a['question']}\n{a['answer']}" for a in articles]  # as Passage.search_text: title, then text
    text_of = dict(zip(ids, texts))
    rng = random.Random(0)
    unseen = set(rng.sample(sorted(ids), args.held_out))
    train = read_rows(DATA / "train.csv")
    validation = read_rows(DATA / "validation.csv")

    by_intent: dict[str, list[str]] = {}
    for row in train:
        if row["category"] not in unseen:
            by_intent.setdefault(row["category"], []).append(row["text"])
    pairs = []
    for intent, messages in sorted(by_intent.items()):
        for text in random.Random(intent).sample(messages, min(args.per_intent, len(messages))):
            pairs.append((text, text_of[intent]))
    splits = {
        "unseen_articles": [(r["text"], r["category"]) for r in validation if r["category"] in unseen],
        "seen_articles_new_messages": [(r["text"], r["category"]) for r in validation if r["category"] not in unseen],
    }

    frozen = Embedder()
    config = BiEncoderConfig(epochs=args.epochs)
    started = time.monotonic()
    model, train_metrics = train_biencoder(pairs, config=config, progress=True)
    train_seconds = time.monotonic() - started
    tuned = type("Tuned", (), {"encode": staticmethod(lambda t: model.encode(list(t), batch_size=64, normalize_embeddings=True,
                                                                             show_progress_bar=False))})()

    results = {}
    for name, rows in splits.items():
        queries, relevant = [q for q, _ in rows], [i for _, i in rows]
        results[name] = {}
        for label, encoder in (("frozen", frozen), ("fine_tuned", tuned)):
            recall = retrieval_recall(encoder, queries, relevant, ids, texts, ks=(1, 5))
            found, scores = best_hits(encoder, queries, ids, texts)
            correct = np.array(found) == np.array(relevant)
            entry = {**recall}
            if name == "unseen_articles":
                threshold = choose_retrieval_threshold(scores, correct)
                answered = scores >= threshold
                entry["retrieval_threshold"] = round(threshold, 4)
                entry["answered_share"] = float(answered.mean())
                entry["precision_when_answered"] = float(correct[answered].mean()) if answered.any() else None
            results[name][label] = entry
        print(name, json.dumps(results[name]), flush=True)

    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(with_torch=True),
        "command": "python bench/bench_retrieval.py " + " ".join(sys.argv[1:]),
        "knowledge_base": f"{KB.relative_to(ROOT)}: {len(ids)} articles",
        "held_out_articles": sorted(unseen),
        "training_pairs": len(pairs), "train_seconds": round(train_seconds, 1), "config": config.__dict__,
        "train_loss": train_metrics["train_loss"], "results": results,
    }
    out = ROOT / "bench" / "results"
    (out / "retrieval.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = ["# Retrieval: frozen vs fine-tuned encoder (BANKING77 messages → help-centre articles)", "",
             f"Date: {report['date'][:10]}. Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores. "
             f"Command: `{report['command'].strip()}`.", "",
             f"{len(ids)} articles (bench/data/help_centre_articles.csv); the encoder was tuned on {len(pairs)} "
             f"(training message, article) pairs of {len(ids) - len(unseen)} articles in {train_seconds:.0f} s; "
             f"{len(unseen)} articles were held out entirely. Queries are BANKING77 validation messages, searched "
             "against all 77 articles.", "",
             "| queries | encoder | recall@1 | recall@5 | MRR@10 | n |", "|---|---|---:|---:|---:|---:|"]
    for name, per in results.items():
        for label, r in per.items():
            lines.append(f"| {name.replace('_', ' ')} | {label.replace('_', '-')} | {r['recall@1']:.3f} | {r['recall@5']:.3f} | "
                         f"{r['mrr@10']:.3f} | {r['queries']} |")
    lines += ["", "Retrieval threshold chosen on the unseen articles' messages (a right answer +1, a wrong one -2):", "",
              "| encoder | threshold | answered | precision when answered |", "|---|---:|---:|---:|"]
    for label, r in results["unseen_articles"].items():
        precision = "—" if r["precision_when_answered"] is None else f"{r['precision_when_answered']:.3f}"
        lines.append(f"| {label.replace('_', '-')} | {r['retrieval_threshold']:.3f} | {r['answered_share']:.3f} | {precision} |")
    (out / "retrieval.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'retrieval.json'} and retrieval.md")


if __name__ == "__main__":
    main()
