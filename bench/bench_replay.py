"""The monitor's backtest on the dev stream, through the CLI form the issue checks, scored against known episodes.

    python bench/bench_replay.py --model var/models/sentiment [--config troika.toml]

Runs `troika finance replay --model M --data ../shared/data/finance_news_stream/headlines_dev_until_2019-12-31.csv
--json` (default topics, detector and alert policy unless --config), then marks each alert:
inside one of the issue's three episodes (Q4-2018 sell-off, May and August 2019 trade-war
escalations), within -1/+3 days of a listed stress date (bench_spikes.STRESS_DATES), or in a
quiet month of the dense period (no stress date, no episode): the false-alarm figure. Writes
bench/results/finance_replay.json and .md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_spikes import DENSE_FROM, DENSE_TO, EPISODES, MATCH_AFTER, MATCH_BEFORE, STRESS_DATES
from bench.machine_info import machine

RESULTS = ROOT / "bench" / "results"
STREAM = ROOT.parent / "shared" / "data" / "finance_news_stream" / "headlines_dev_until_2019-12-31.csv"
UTC = dt.UTC


def day(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data", type=Path, default=STREAM)
    parser.add_argument("--config", type=Path)
    args = parser.parse_args()
    if not args.data.is_file():
        print(f"note: {args.data} is absent; nothing to replay")
        return
    command = ["troika", "finance", "replay", "--model", str(args.model), "--data", str(args.data), "--json"]
    command += ["--config", str(args.config)] if args.config else []
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "shared.cli", *command[1:]], capture_output=True, text=True, check=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"})
    seconds = time.monotonic() - started
    alerts = json.loads(done.stdout)["alerts"]  # the object holds skipped_rows beside the alerts

    stress = [(day(d), what) for d, what, _ in STRESS_DATES]
    episodes = [(name, day(a), day(b) + dt.timedelta(days=1)) for name, a, b in EPISODES]
    dense_from, dense_to = day(DENSE_FROM), day(DENSE_TO) + dt.timedelta(days=1)
    busy_months = {d.strftime("%Y-%m") for d, _ in stress}
    for _, a, b in episodes:
        busy_months |= {(a + dt.timedelta(days=k)).strftime("%Y-%m") for k in range((b - a).days)}
    rows = []
    for alert in alerts:
        start = dt.datetime.fromisoformat(alert["started_at"])
        episode = next((name for name, a, b in episodes if a <= start < b), None)
        date = next((what for d, what in stress if d - MATCH_BEFORE <= start <= d + MATCH_AFTER), None)
        dense = dense_from <= start < dense_to
        quiet = dense and start.strftime("%Y-%m") not in busy_months
        rows.append({"topic": alert["topic"], "rule": alert["rule"], "started_at": alert["started_at"], "resolved_at": alert["resolved_at"],
                     "severity": alert["severity"], "episode": episode, "stress_date": date, "dense_period": dense,
                     "quiet_month": quiet})
    hit = {name: sorted({r["topic"] for r in rows if r["episode"] == name}) for name, _, _ in episodes}
    by_rule = {rule: {"alerts": sum(r["rule"] == rule for r in rows),
                      "episodes_hit": [name for name, _, _ in episodes if any(r["rule"] == rule and r["episode"] == name for r in rows)],
                      "quiet_month_alerts": sum(r["rule"] == rule and r["quiet_month"] for r in rows)}
               for rule in sorted({r["rule"] for r in rows})}
    result = {
        "date": dt.datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "command": " ".join(command),
        "seconds": round(seconds, 1),
        "summary": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "",
        "alerts": rows,
        "episodes_hit": hit,
        "by_rule": by_rule,
        "quiet_month_alerts": sum(r["quiet_month"] for r in rows),
        "dense_period_alerts": sum(r["dense_period"] for r in rows),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "finance_replay.json").write_text(json.dumps(result, indent=1) + "\n")
    m = result["machine"]
    lines = [
        "# Finance monitor: replay of the dev stream",
        "",
        f"Date: {result['date']}. Machine: {m['cpu']}, {m['cores']} cores. Command: `{result['command']}` "
        f"({result['seconds']:.0f} s; {result['summary']}).",
        "",
        "| topic | rule | started | resolved | severity | episode | stress date (−1/+3 days) | quiet month |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['topic']} | {r['rule']} | {r['started_at'][:10]} | {(r['resolved_at'] or '')[:10]} | {r['severity']} | "
                     f"{r['episode'] or ''} | {r['stress_date'] or ''} | {'yes' if r['quiet_month'] else ''} |")
    lines += ["", "Episodes: " + "; ".join(f"{name}: {', '.join(t) if t else 'missed'}" for name, t in hit.items()) + ".",
              f"False alarms: {result['quiet_month_alerts']} alert(s) in quiet months of the dense period "
              f"({DENSE_FROM} to {DENSE_TO}; {result['dense_period_alerts']} alerts in that period).", "",
              "| rule | alerts | episodes hit | quiet-month alerts |", "|---|---:|---|---:|"]
    lines += [f"| {rule} | {v['alerts']} | {', '.join(v['episodes_hit']) or 'none'} | {v['quiet_month_alerts']} |" for rule, v in by_rule.items()]
    lines.append("")
    (RESULTS / "finance_replay.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
