"""How fast is each named encoder on this machine? Sentences per second, embedding on CPU.

    python bench/bench_encoders.py [--sentences 512] [--rounds 3] [--threads 2] [--batch-size 32]

Sentences: the first ``--sentences`` BANKING77 training messages (../shared/data/banking77), as
the apps embed them (``shared.embeddings.Embedder``: sentence-transformers, batches of
``--batch-size``, unit-length vectors). The encoders take turns within each round, so a load
spike from other work on the machine slows both alike and their ratio holds better than each
figure; the median round is reported. Encoders not installed are skipped (see ``troika models``).

Writes bench/results/encoders.json (``troika models`` reads it) and encoders.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine_info import machine

DATA = ROOT.parent / "shared" / "data" / "banking77" / "train.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    import torch

    from shared.embeddings import Embedder
    from shared.encoder import ENCODERS, encoder_state
    from shared.errors import ConfigError

    torch.set_num_threads(args.threads)
    with open(DATA, newline="", encoding="utf-8") as fh:
        texts = [row["text"] for row in csv.DictReader(fh)][: args.sentences]
    embedders = {}
    for name in ENCODERS:
        try:
            embedders[name] = Embedder(name, batch_size=args.batch_size)
        except ConfigError as exc:
            print(f"skipping {name}: {exc}", flush=True)
            continue
        embedders[name].encode(texts[: args.batch_size])  # load + warm up outside the timing
    rates: dict[str, list[float]] = {name: [] for name in embedders}
    for round_ in range(args.rounds):
        for name, embedder in embedders.items():
            start = time.perf_counter()
            embedder.encode(texts)
            rates[name].append(len(texts) / (time.perf_counter() - start))
            print(f"round {round_ + 1} {name}: {rates[name][-1]:.1f} sentences/s", flush=True)

    report = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(with_torch=True),
        "command": " ".join(["python bench/bench_encoders.py", *sys.argv[1:]]),
        "settings": {"sentences": len(texts), "rounds": args.rounds, "threads": args.threads, "batch_size": args.batch_size,
                     "data": "banking77 train.csv, first messages"},
        "encoders": {
            name: {"upstream": ENCODERS[name].upstream, "parameters": ENCODERS[name].parameters, "dim": ENCODERS[name].dim,
                   "sentences_per_s": round(statistics.median(r), 1), "rounds_sentences_per_s": [round(x, 1) for x in r],
                   "state": encoder_state(name)}
            for name, r in rates.items()
        },
    }
    out = ROOT / "bench" / "results"
    (out / "encoders.json").write_text(json.dumps(report, indent=1) + "\n")
    write_table(report, out / "encoders.md")
    print(f"wrote {out / 'encoders.json'} and encoders.md")


def write_table(report: dict, path: Path) -> None:
    info, settings = report["machine"], report["settings"]
    lines = [
        "# Encoders: embedding speed on CPU",
        "",
        f"Date: {report['date'][:10]}. Machine: {info['cpu']}, {info['cores']} cores, torch threads {settings['threads']}, "
        f"load average {info['load_average_1min']} at the end. Command: `{report['command'].strip()}`.",
        "",
        f"{settings['sentences']} BANKING77 messages embedded in batches of {settings['batch_size']}; median of "
        f"{settings['rounds']} rounds, the encoders taking turns within each round. A load average above the core count "
        "means other work shared the cores: the figures are then low and noisy, and the ratio between the encoders is "
        "the figure to trust.",
        "",
        "| encoder | upstream | parameters | dim | sentences/s | rounds |",
        "|---|---|---:|---:|---:|---|",
    ]
    for name, row in report["encoders"].items():
        lines.append(f"| {name} | {row['upstream']} | {row['parameters']} | {row['dim']} | {row['sentences_per_s']:.1f} | "
                     f"{', '.join(f'{x:.1f}' for x in row['rounds_sentences_per_s'])} |")
    path.write_text("\n".join(lines) + "\n")

if __name__ == "__main__":
    main()
