"""What the load benchmarks share: a free port, a server started and waited for, wrk runs and their table.

    with serving(command, url, log_path, env) as server:   # started, /health/ready answered 200
        result = run_wrk(url, script, connections=4, duration=10)
        runs = drive(url, script, server, args, soak_name="x_soak", title="GET /x", what="...")   # or a --soak

A wrk Lua script ends with ``WRK_DONE`` so that ``run_wrk`` can read its figures: requests,
requests/s, p50/p90/p99/max latency in ms and errors (socket errors + non-2xx).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

WRK_DONE = """
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout + summary.errors.status
  io.write(string.format('WRK_JSON {"requests": %d, "duration_us": %d, "errors": %d, "non_2xx": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\\n',
    summary.requests, summary.duration, errors, summary.errors.status,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""

RUN_TABLE_HEAD = ["| connections | requests/s | p50 ms | p90 ms | p99 ms | errors |", "|---:|---:|---:|---:|---:|---:|"]


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """--duration, --connections, --threads (the server's) and --soak, as every load benchmark takes them."""
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--connections", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--threads", type=int, default=4, help="server worker threads (waitress)")
    parser.add_argument("--soak", type=int, metavar="SECONDS", help="instead of the runs: a soak this long, memory recorded each minute")
    parser.add_argument("--soak-connections", type=int, default=4)


def drive(url: str, script: Path, server: subprocess.Popen, args, *, soak_name: str, title: str, what: str) -> list[dict] | None:
    """The runs of ``args.connections`` (their results), or with ``--soak`` the soak, written to
    bench/results/``soak_name``.json/.md (None: there are no runs to report)."""
    if args.soak:
        start_rss, rounds = soak(url, script, server, seconds=args.soak, connections=args.soak_connections)
        write_soak(Path(__file__).parent / "results", soak_name, title, what, args.threads, args.soak_connections,
                   start_rss, rounds)
        return None
    runs = []
    for connections in args.connections:
        result = run_wrk(url, script, connections, args.duration)
        runs.append(result)
        print(run_line(result), flush=True)
    return runs


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


@contextlib.contextmanager
def serving(command: list[str], url: str, log_path: Path, env: dict, *, cwd: Path, ready_timeout: float = 600) -> Iterator[subprocess.Popen]:
    """The server started with ``command`` (output to ``log_path``), once /health/ready answers; stopped on exit."""
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_ready(url, server, ready_timeout)
            yield server
        finally:
            server.terminate()
            server.wait(timeout=30)


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


def run_line(result: dict) -> str:
    """One run on one line, for the console."""
    return (f"{result['connections']:>3} connections: {result['requests_per_s']:8.1f} req/s  p50 {result['p50_ms']:6.2f} ms  "
            f"p99 {result['p99_ms']:7.2f} ms  errors {result['errors']}")


def run_table(runs: list[dict]) -> list[str]:
    """The runs as a markdown table (connections, requests/s, p50/p90/p99, errors)."""
    return RUN_TABLE_HEAD + [f"| {r['connections']} | {r['requests_per_s']} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | "
                             f"{r['p99_ms']:.2f} | {r['errors']} |" for r in runs]


def highest_clean_rate(runs: list[dict]) -> float | None:
    """The highest requests/s among the runs with zero errors (None when every run had errors)."""
    return max((r["requests_per_s"] for r in runs if r["errors"] == 0), default=None)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def soak(url: str, script: Path, server: subprocess.Popen, *, seconds: int, connections: int) -> tuple[float, list[dict]]:
    """One-minute wrk rounds for ``seconds``, the server's resident memory after each: (RSS at start, rounds)."""
    start_rss, rounds = rss_mib(server.pid), []
    for _ in range(max(1, seconds // 60)):
        result = run_wrk(url, script, connections, 60)
        result["rss_mib"] = round(rss_mib(server.pid), 1)
        rounds.append(result)
        print(f"{result['requests_per_s']:8.1f} req/s  errors {result['errors']}  RSS {result['rss_mib']} MiB", flush=True)
    return start_rss, rounds


def write_soak(out: Path, name: str, title: str, what: str, server_threads: int, connections: int, start_rss: float,
               rounds: list[dict]) -> None:
    """``out``/``name``.json and .md: the soak's rounds, memory at start and after each minute."""
    import datetime as dt
    import sys

    from bench.machine_info import machine

    command = f"python bench/{Path(sys.argv[0]).name} " + " ".join(sys.argv[1:])
    report = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "machine": machine(with_torch=False),
              "command": command, "server_threads": server_threads, "connections": connections,
              "rss_mib_at_start": round(start_rss, 1), "rounds": rounds,
              "requests": sum(r["requests"] for r in rounds), "errors": sum(r["errors"] for r in rounds)}
    (out / f"{name}.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = [f"# {title}: memory over a soak", "",
             f"Date: {report['date'][:10]}. Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores. "
             f"Command: `{command.strip()}`. {connections} connections, {what}.", "",
             f"Resident memory of the server before the soak: {start_rss:.1f} MiB. {report['requests']} requests, {report['errors']} errors.", "",
             "| minute | requests/s | p50 ms | p99 ms | errors | RSS MiB |", "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {i} | {r['requests_per_s']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} | {r['rss_mib']:.1f} |"
              for i, r in enumerate(rounds, 1)]
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / (name + '.json')} and .md")
