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
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine_info import machine  # noqa: E402

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
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status
  io.write(string.format('WRK_JSON {"requests": %%d, "duration_us": %%d, "errors": %%d, "non_2xx": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "max_us": %%d}\\n',
    summary.requests, summary.duration, errors, summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, server: subprocess.Popen, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with status {server.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url + "/health/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server was not ready in time")


def run_wrk(url: str, script: Path, connections: int, duration: int) -> dict:
    command = ["wrk", "-t", str(min(connections, 2)), "-c", str(connections), "-d", f"{duration}s", "--timeout", "5s",
               "-s", str(script), url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("WRK_JSON "))
    raw = json.loads(line.removeprefix("WRK_JSON "))
    seconds = raw["duration_us"] / 1e6
    return {"connections": connections, "requests": raw["requests"], "requests_per_s": round(raw["requests"] / seconds, 1),
            "p50_ms": raw["p50_us"] / 1000, "p90_ms": raw["p90_us"] / 1000, "p99_ms": raw["p99_us"] / 1000,
            "max_ms": raw["max_us"] / 1000, "errors": raw["errors"], "non_2xx": raw["non_2xx"]}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_soak(rounds: list[dict], args, start_rss: float) -> None:
    report = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "machine": machine(with_torch=False),
              "command": "python bench/bench_chat_load.py " + " ".join(sys.argv[1:]), "server_threads": args.threads,
              "connections": args.soak_connections, "rss_mib_at_start": round(start_rss, 1), "rounds": rounds,
              "requests": sum(r["requests"] for r in rounds), "errors": sum(r["errors"] for r in rounds)}
    out = ROOT / "bench" / "results"
    (out / "chat_soak.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = ["# POST /cs/api/chat: memory over a soak", "",
             f"Date: {report['date'][:10]}. Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores. "
             f"Command: `{report['command'].strip()}`. {args.soak_connections} connections, each message a new session.", "",
             f"Resident memory of the server before the soak: {start_rss:.1f} MiB. {report['requests']} requests, {report['errors']} errors.", "",
             "| minute | requests/s | p50 ms | p99 ms | errors | RSS MiB |", "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {i} | {r['requests_per_s']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} | {r['rss_mib']:.1f} |"
              for i, r in enumerate(rounds, 1)]
    (out / "chat_soak.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'chat_soak.json'} and .md")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--threads", type=int, default=4, help="server worker threads (waitress)")
    parser.add_argument("--onnx", choices=["true", "false"], default="true", help="serve with onnxruntime int8 (the default) or torch")
    parser.add_argument("--soak", type=int, metavar="SECONDS", help="instead of the runs: a soak this long, memory recorded each minute")
    parser.add_argument("--soak-connections", type=int, default=4)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="troika-load-") as tmp:
        config = Path(tmp) / "troika.toml"
        config.write_text(f'apps = ["customer_service"]\nvar_dir = "{tmp}/var"\nport = {port}\nthreads = {args.threads}\n'
                          f'[customer_service]\nrate_limit = "100000/second"\nonnx = {args.onnx}\n')
        script = Path(tmp) / "chat.lua"
        script.write_text(WRK_SCRIPT % {"messages": "{" + ", ".join(json.dumps(m) for m in MESSAGES) + "}"})
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        log = open(Path(tmp) / "server.log", "w")
        server = subprocess.Popen([sys.executable, "-m", "shared.cli", "--quiet", "run", "--config", str(config)],
                                  cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(url, server)
            run_wrk(url, script, 1, 2)  # warm-up: first calls of onnxruntime and the database
            if args.soak:
                start_rss, rounds = rss_mib(server.pid), []
                for _ in range(max(1, args.soak // 60)):
                    result = run_wrk(url, script, args.soak_connections, 60)
                    result["rss_mib"] = round(rss_mib(server.pid), 1)
                    rounds.append(result)
                    print(f"{result['requests_per_s']:8.1f} req/s  errors {result['errors']}  RSS {result['rss_mib']} MiB", flush=True)
                write_soak(rounds, args, start_rss)
                return
            runs = []
            for connections in args.connections:
                result = run_wrk(url, script, connections, args.duration)
                runs.append(result)
                print(f"{connections:>3} connections: {result['requests_per_s']:8.1f} req/s  p50 {result['p50_ms']:6.2f} ms  "
                      f"p99 {result['p99_ms']:7.2f} ms  errors {result['errors']}", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()

    clean = [r for r in runs if r["errors"] == 0]
    report = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(with_torch=False),
        "command": "python bench/bench_chat_load.py " + " ".join(sys.argv[1:]),
        "setup": {"server": "troika run (waitress)", "server_threads": args.threads, "runtime": "onnxruntime int8" if args.onnx == "true" else "torch fp32",
                  "database": "SQLite file", "load_generator": "wrk, closed loop, loopback", "seconds_per_run": args.duration,
                  "messages": MESSAGES},
        "runs": runs,
        "low_load": runs[0],
        "highest_rate_with_zero_errors": max((r["requests_per_s"] for r in clean), default=None),
    }
    name = "chat_load" if args.onnx == "true" else "chat_load_torch"
    out = ROOT / "bench" / "results"
    (out / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = [f"# POST /cs/api/chat under load ({report['setup']['runtime']})", "",
             f"Date: {report['date'][:10]}. Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores. "
             f"Command: `{report['command'].strip()}`.", "",
             f"The demo bot served by `troika run` (waitress, {args.threads} threads, SQLite; every request stores two turns), "
             "driven by wrk on loopback, closed loop, each message a new session.", "",
             "| connections | requests/s | p50 ms | p90 ms | p99 ms | errors |", "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['connections']} | {r['requests_per_s']} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} |" for r in runs]
    lines += ["", f"Highest rate served with zero errors: **{report['highest_rate_with_zero_errors']} requests/s**; "
              f"p50 at one connection: **{runs[0]['p50_ms']:.2f} ms**.", ""]
    (out / f"{name}.md").write_text("\n".join(lines))
    print(f"wrote {out / name}.json and .md")


if __name__ == "__main__":
    main()
