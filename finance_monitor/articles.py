"""The article record every source produces, before normalisation.

Sources (RSS/Atom, HTML pages, CSV replay) each turn their input into :class:`RawArticle`;
:mod:`finance_monitor.ingest` then cleans, bounds and keys it. Kept in its own module so
sources and ingest can both import it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# How exact ``published_at`` is, finest first. "fetched" means the source gave no date and
# the time of the fetch stands in for it.
PRECISIONS = ("second", "minute", "hour", "day", "month", "fetched")


@dataclass(frozen=True)
class RawArticle:
    """One item as a source saw it: text still untrusted (HTML, entities, any length)."""

    source: str
    title: str
    text: str = ""
    guid: str | None = None
    url: str | None = None
    published_at: datetime | None = None  # timezone-aware UTC when set
    time_precision: str = "fetched"
    tickers: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.time_precision not in PRECISIONS:
            raise ValueError(f"time_precision {self.time_precision!r}: expected one of {', '.join(PRECISIONS)}")
        if self.published_at is not None and self.published_at.utcoffset() is None:
            raise ValueError("published_at must be timezone-aware (UTC)")


# The live monitor and the replay both read an article through these two, so both score the same text.


def scoring_body(title: str, text: str | None) -> str | None:
    """The body the sentiment model reads beside the headline: none when there is none or it only repeats the headline."""
    return text if text and text != title else None


def topic_text(title: str, text: str | None) -> str:
    """What topic assignment reads: the headline and the start of its body."""
    body = scoring_body(title, text)
    return f"{title}. {body[:300]}" if body else title
