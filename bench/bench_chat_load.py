"""Load on the support bot's chat API: latency and throughput of POST /cs/api/chat on loopback.

    python bench/bench_chat_load.py [--duration 10] [--connections 1 2 4 8 16] [--threads 4]
    python bench/bench_chat_load.py --soak 600 --soak-connections 4      # memory over a 10-minute soak

Starts `troika run` with the demo bank (its own var directory and SQLite database, so every
turn is written as in production), waits for /health/ready, then drives it with wrk, one run
per connection count (closed loop: each connection sends its next message when the reply
comes). Messages cycle through a realistic mix: intent answers, clarifying questions,
knowledge-base answers and handoffs, each in a new session, so every request stores two turns.
The per-client rate limit is raised for the run (one load generator is one client).

Writes bench/results/chat_load.json and chat_load.md: per run, requests/s, p50/p90/p99 latency
and errors (socket errors + non-2xx), and the highest rate served with zero errors. ``--soak``
instead drives the server for that many seconds in one-minute rounds, recording its resident
memory after each (chat_soak.json/.md).
Needs wrk (Debian: apt-get install wrk).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import WRK_DONE, add_run_options, drive, free_port, highest_clean_rate, run_table, run_wrk, serving
from bench.machine_info import machine
from shared.artifacts import served_with

MESSAGES = [
    "I lost my card", "where is my new card", "how much does a transfer cost", "my top up failed",
    "I want my money back", "what is the exchange rate for euros", "how do I change my PIN",
    "can I get a virtual card", "close my account please", "hello", "thanks a lot",
    "is my money protected if the bank fails", "how do I pay in a cheque", "card",
    "what's the weather tomorrow", "tell me a joke",
]

WRK_SCRIPT = """
local messages = %(messages)s
local counter = 0
request = function()
  counter = counter + 1
  local body = '{"message": "' .. messages[(counter %% #messages) + 1] .. '"}'
  return wrk.format("POST", "/cs/api/chat", {["Content-Type"] = "application/json"}, body)
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(parser)
    parser.add_argument("--onnx", choices=["true", "false"], default="true", help="serve with onnxruntime int8 (the default) or torch")
    parser.add_argument("--model", type=Path, metavar="DIR", help="serve this `troika cs train` directory instead of the demo bot")
    parser.add_argument("--responses", type=Path, metavar="F", help="with --model: its answers per intent (default: one made-up answer per intent)")
    parser.add_argument("--tag", default="", help="results go to bench/results/chat_load_<tag>.{json,md}")
    args = parser.parse_args()
    report = run(args)
    if report is not None:
        write(report, args)


def served_runtime(args) -> str:
    if args.onnx != "true":
        return "torch fp32"
    runtime = served_with(args.model / "onnx") if args.model else "onnx-int8"
    return "torch fp32" if runtime == "torch" else "onnxruntime " + runtime.removeprefix("onnx-")


def model_section(model: Path, responses: Path | None, tmp: Path) -> str:
    """The [customer_service] lines that serve ``model``; without a responses file, one answer per intent (latency
    does not depend on the wording)."""
    if responses is None:
        labels = json.loads((model / "classifier" / "labels.json").read_text()) if (model / "classifier").is_dir() else []
        responses = tmp / "responses.json"
        responses.write_text(json.dumps({label: [f"(the answer for {label})"] for label in labels if label != "out_of_scope"}))
    return f'model = "{model.resolve()}"\nresponses = "{responses.resolve()}"\n'


def run(args) -> dict | None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="troika-load-") as tmp:
        config = Path(tmp) / "troika.toml"
        served = model_section(args.model, args.responses, Path(tmp)) if args.model else ""
        config.write_text(f'apps = ["customer_service"]\nvar_dir = "{tmp}/var"\nport = {port}\nthreads = {args.threads}\n'
                          f'[customer_service]\nrate_limit = "100000/second"\nonnx = {args.onnx}\n{served}')
        script = Path(tmp) / "chat.lua"
        script.write_text(WRK_SCRIPT % {"messages": "{" + ", ".join(json.dumps(m) for m in MESSAGES) + "}"} + WRK_DONE)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        command = [sys.executable, "-m", "shared.cli", "--quiet", "run", "--config", str(config)]
        with serving(command, url, Path(tmp) / "server.log", env, cwd=ROOT) as server:
            run_wrk(url, script, 1, 2)  # warm-up: first calls of onnxruntime and the database
            runs = drive(url, script, server, args, soak_name="chat_soak", title="POST /cs/api/chat",
                         what="each message a new session")
            if runs is None:
                return None

    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(with_torch=False),
        "command": "python bench/bench_chat_load.py " + " ".join(sys.argv[1:]),
        "setup": {"server": "troika run (waitress)", "server_threads": args.threads, "runtime": served_runtime(args),
                  "database": "SQLite file", "load_generator": "wrk, closed loop, loopback", "seconds_per_run": args.duration,
                  "messages": MESSAGES, "model": str(args.model) if args.model else "the demo bot"},
        "runs": runs,
        "low_load": runs[0],
        "highest_rate_with_zero_errors": highest_clean_rate(runs),
    }


def write(report: dict, args) -> None:
    runs = report["runs"]
    name = ("chat_load" if args.onnx == "true" else "chat_load_torch") + (f"_{args.tag}" if args.tag else "")
    out = ROOT / "bench" / "results"
    (out / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = [f"# POST /cs/api/chat under load ({report['setup']['runtime']})", "",
             f"Date: {report['date'][:10]}. Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores. "
             f"Command: `{report['command'].strip()}`.", "",
             f"{report['setup']['model']} served by `troika run` (waitress, {args.threads} threads, SQLite; every request stores two turns), "
             "driven by wrk on loopback, closed loop, each message a new session.", "",
             *run_table(runs)]
    lines += ["", f"Highest rate served with zero errors: **{report['highest_rate_with_zero_errors']} requests/s**; "
              f"p50 at one connection: **{runs[0]['p50_ms']:.2f} ms**.", ""]
    (out / f"{name}.md").write_text("\n".join(lines))
    print(f"wrote {out / name}.json and .md")


if __name__ == "__main__":
    main()
