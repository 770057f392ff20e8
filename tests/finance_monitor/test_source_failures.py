"""A malformed feed, a feed that times out and a huge response: each job keeps running, each failure is recorded
(as the job run's error and in the source's state), and the good source beside them is unaffected."""

import time

from finance_monitor.ingest.demo_feed import demo_feed
from tests.finance_monitor.local_http import QuietHandler, serve
from tests.finance_monitor.monitor_helpers import make_monitor
from tests.finance_monitor.samples import MALFORMED

GOOD = demo_feed()


class Server(QuietHandler):
    def do_GET(self):
        if self.path == "/malformed":
            self.send(200, MALFORMED, [("Content-Type", "application/rss+xml")])
        elif self.path == "/slow":
            time.sleep(3)  # longer than the fetch deadline
            self.send(200, GOOD, [("Content-Type", "application/rss+xml")])
        elif self.path == "/huge":
            self.send(200, b"<rss>" + b" " * 200_000 + b"</rss>", [("Content-Type", "application/rss+xml")])
        else:
            self.send(200, GOOD, [("Content-Type", "application/rss+xml")])


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_failing_sources_are_recorded_and_their_jobs_keep_running(db_url):
    with serve(Server) as base:
        section = {"topic_threshold": False, "detect_every": 3600,
                   "fetch": {"connect_timeout": 1, "read_timeout": 0.5, "deadline": 1, "max_bytes": 50_000},
                   "sources": [{"name": name, "kind": "rss", "url": f"{base}/{name}", "interval": 1}
                               for name in ("good", "malformed", "slow", "huge")]}
        monitor = make_monitor(db_url, section)
        assert monitor.start()
        try:
            def runs(job, outcome):
                return [r for r in monitor.store.job_runs(job_id=f"source:{job}", limit=100) if r["outcome"] == outcome]

            # Two failed runs each: the job ran again after its failure.
            wait_for(lambda: all(len(runs(name, "error")) >= 2 for name in ("malformed", "slow", "huge")) and runs("good", "ok"))
            assert monitor.scheduler.running
            assert {j["id"] for j in monitor.scheduler.jobs()} >= {"source:malformed", "source:slow", "source:huge", "source:good"}
        finally:
            monitor.shutdown()
    assert "skipped" in runs("malformed", "error")[0]["detail"]
    assert "error: timeout" in runs("slow", "error")[0]["detail"]
    assert "error: too_large" in runs("huge", "error")[0]["detail"]
    assert sum(r["counts"]["new"] for r in runs("good", "ok")) == 58  # and later polls found nothing new
    for name, status in (("malformed", "skipped"), ("slow", "error"), ("huge", "error")):
        state = monitor.store.source_state(name)
        assert state["last_status"] == status and state["last_error"] and state["last_ok_at"] is None
    assert "bytes" in monitor.store.source_state("huge")["last_error"]
    assert monitor.store.count_articles() == 58
