"""The demo feed as RSS 2.0: ``demo/stream.csv`` (original headlines) with its times moved to end just before now.

Served by the finance blueprint at ``/finance/demo/feed.xml``, so an ``rss`` source can poll a
live-looking feed on a machine with no network; tests serve it from a loopback server::

    [[finance_monitor.sources]]
    name = "demo-rss"
    kind = "rss"
    url = "http://127.0.0.1:8000/finance/demo/feed.xml"
"""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from .sources import read_stream

UTC = dt.UTC
DEMO_STREAM = Path(__file__).resolve().parent.parent / "demo" / "stream.csv"  # the package's demo/, as settings.DEMO_DIR


def demo_feed(now: dt.datetime | None = None, path: Path = DEMO_STREAM, *, minutes: int = 1) -> bytes:
    """RSS bytes of the stream at ``path``, shifted so its last item is ``minutes`` before ``now`` (whole minutes, so
    two requests within a minute give the same document)."""
    now = (now or dt.datetime.now(UTC)).replace(second=0, microsecond=0)
    rows = read_stream(path, strict=True)  # our own sample file: a bad row there is a bug to see, not to skip
    shift = now - dt.timedelta(minutes=minutes) - rows[-1].published_at
    items = []
    for i, row in enumerate(reversed(rows)):  # newest first, as feeds are
        guid = f"troika-demo-{path.stem}-{len(rows) - i}"
        ticker = f"<category>{escape(row.tickers[0])}</category>" if row.tickers else ""
        items.append(f"<item><title>{escape(row.title)}</title><link>https://demo.troika.invalid/{guid}</link>"
                     f"<guid isPermaLink=\"false\">{guid}</guid><pubDate>{format_datetime(row.published_at + shift)}</pubDate>"
                     f"{ticker}<description>{escape(row.text)}</description></item>")
    return ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<rss version=\"2.0\"><channel><title>troika demo wire</title>"
            "<link>https://demo.troika.invalid/</link><description>Made-up finance headlines for the troika demo</description>\n"
            + "\n".join(items) + "\n</channel></rss>\n").encode("utf-8")
