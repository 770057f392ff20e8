"""kill -9 in the middle of ingestion: no acknowledged row is lost, and the restart duplicates none and scores the rest."""

import os
import signal
import subprocess
import sys
from email.utils import format_datetime
from pathlib import Path

import sqlalchemy as sa

from tests.finance_monitor.local_http import QuietHandler, serve
from tests.finance_monitor.monitor_helpers import UTC

REPO = Path(__file__).resolve().parents[2]
FEEDS, ITEMS = 8, 100


def feed(i: int) -> bytes:
    """Feed ``i``: ITEMS made-up items with GUIDs and titles of their own."""
    import datetime as dt

    at = format_datetime(dt.datetime(2026, 5, 4, 9, 0, tzinfo=UTC) + dt.timedelta(minutes=i))
    items = "".join(f"<item><title>Company {i}-{j} reports results number {j} of batch {i}</title><guid isPermaLink=\"false\">k-{i}-{j}</guid>"
                    f"<pubDate>{at}</pubDate><description>Quarterly figures for company {i}-{j}.</description></item>"
                    for j in range(ITEMS))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>f{i}</title>{items}</channel></rss>'.encode()


class Feeds(QuietHandler):
    def do_GET(self):
        self.send(200, feed(int(self.path.rsplit("/", 1)[1])), [("Content-Type", "application/rss+xml")])


def child(db_url: str, base: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.finance_monitor.kill_child", db_url, base, str(FEEDS)], cwd=REPO,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stored(db_url: str) -> list[tuple[str, str | None]]:
    engine = sa.create_engine(db_url)
    with engine.connect() as c:
        rows = [tuple(r) for r in c.execute(sa.text("SELECT guid, sentiment FROM fm_articles"))]
        if db_url.startswith("sqlite"):
            assert c.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
    engine.dispose()
    return rows


def test_kill_9_during_ingestion_loses_no_acknowledged_row_and_duplicates_none(db_url):
    with serve(Feeds) as base:
        process = child(db_url, base)
        acked = []
        for line in process.stdout:
            if line.startswith("ACK"):
                acked.append(line.split()[1])
            if len(acked) == 3:  # the fourth poll is under way: fetching, inserting or scoring
                break
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()
        assert len(acked) == 3, "the child never acknowledged three polls"

        rows = stored(db_url)
        guids = [g for g, _ in rows]
        assert len(guids) == len(set(guids))
        for source in acked:
            i = int(source[1:])
            assert {f"k-{i}-{j}" for j in range(ITEMS)} <= set(guids)

        # The restarted process polls everything again: what was stored is not stored twice, the rest is added,
        # and articles stored but not scored before the kill are scored now.
        process = child(db_url, base)
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-2000:]
        assert out.strip().endswith("DONE")
    rows = stored(db_url)
    guids = [g for g, _ in rows]
    assert len(guids) == len(set(guids)) == FEEDS * ITEMS
    assert all(sentiment is not None for _, sentiment in rows)
