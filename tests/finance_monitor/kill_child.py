"""The process test_kill.py kills: polls sources s0..s<n-1> of a loopback server one by one and prints
``ACK <source> <new>`` once each poll has returned, i.e. once its rows are committed and acknowledged.

    python -m tests.finance_monitor.kill_child DB_URL BASE_URL N
"""

import sys

from tests.finance_monitor.monitor_helpers import make_monitor


def main(db_url: str, base: str, n: int) -> None:
    section = {"topic_threshold": False, "batch_size": 16,
               "sources": [{"name": f"s{i}", "kind": "rss", "url": f"{base}/feed/{i}"} for i in range(n)]}
    monitor = make_monitor(db_url, section)
    for i in range(n):
        report = monitor.poll(f"s{i}")
        print(f"ACK s{i} {report.new} {report.outcome}", flush=True)
    print("DONE", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
