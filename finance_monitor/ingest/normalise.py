"""Normalisation and dedupe keys for fetched articles: pure functions, no I/O.

Everything a feed or page hands us is untrusted: titles may carry HTML and entities,
bodies may be megabytes, GUIDs and URLs may be arbitrary strings. :func:`normalise`
turns a :class:`RawArticle` into an :class:`Article` whose every field is cleaned and
length-bounded, with three dedupe keys the store can put unique constraints on::

    article = normalise(raw, fetched_at=now)
    article.keys.guid, article.keys.url, article.keys.title   # hex digests (or None)

The keys are idempotent (normalising a normalised value changes nothing), so the same
feed fetched twice yields the same keys and hence the same rows.
"""

from __future__ import annotations

import hashlib
import html
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .articles import RawArticle

MAX_TITLE_CHARS = 500
MAX_TEXT_CHARS = 20_000
MAX_URL_CHARS = 2_048
MAX_GUID_CHARS = 512
MAX_SOURCE_CHARS = 100
MAX_TICKERS = 20
ELLIPSIS = "…"

# Query parameters that say how a reader arrived, not what they read: dropping them lets
# the same story shared through a newsletter and a social post dedupe to one URL.
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "igshid", "twclid",
    "mc_cid", "mc_eid", "_ga", "_gl", "ocid", "cmpid", "cmp", "ncid", "sr_share", "smid",
    "ref", "ref_src", "ref_url", "referrer", "src", "spm", "share", "soc_src", "soc_trk",
    "mkt_tok", "__twitter_impression", "guccounter", "guce_referrer", "guce_referrer_sig",
})
TRACKING_PREFIXES = ("utm_", "hsa_", "pk_", "mtm_", "at_", "ga_")
DEFAULT_PORTS = {"http": 80, "https": 443}

_TICKER = re.compile(r"^[A-Z0-9][A-Z0-9.\-]{0,11}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\ufeff]")
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
_NOT_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class DedupeKeys:
    """Digests the store keeps unique. ``None`` where the article has no such identity."""

    guid: str | None
    url: str | None
    title: str | None


@dataclass(frozen=True)
class Article:
    """A cleaned, bounded article ready to be scored and stored."""

    source: str
    title: str
    text: str  # clean text: tags stripped, entities decoded, whitespace collapsed, bounded
    raw_text: str  # as received, only length-bounded (kept for re-cleaning with better rules)
    published_at: datetime  # UTC
    time_precision: str
    guid: str | None
    url: str | None
    tickers: tuple[str, ...]
    keys: DedupeKeys = field(compare=False)


# ---- text ---------------------------------------------------------------------------


class _TextExtractor(HTMLParser):
    """Collects text nodes, dropping script/style bodies and turning block tags into breaks."""

    SKIP = frozenset({"script", "style", "noscript", "template", "iframe", "object"})
    BLOCK = frozenset({"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "section", "article", "blockquote", "pre", "hr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self._skipping += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag, attrs):
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self._skipping:
            self.parts.append(data)


def strip_html(text: str) -> str:
    """Visible text of an HTML fragment; plain text passes through with entities decoded."""
    if "<" not in text:
        return html.unescape(text)
    parser = _TextExtractor()
    try:
        parser.feed(text)
        parser.close()
    except Exception:  # html.parser is lenient, but untrusted input must never stop ingest
        return html.unescape(re.sub(r"<[^>]*>", " ", text))
    return "".join(parser.parts)


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary when one is near, marked with '…'."""
    if len(text) <= limit:
        return text
    if limit <= len(ELLIPSIS):
        return text[:limit]
    cut = text[: limit - len(ELLIPSIS)]
    space = cut.rfind(" ")
    if space > limit // 2:  # a word boundary in the second half; else one giant token: hard cut
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def clean_text(text: str | None, limit: int = MAX_TEXT_CHARS) -> str:
    """Readable plain text: tags and invisible/control characters gone, whitespace collapsed.

    Paragraph breaks survive as single newlines (they help the sentiment chunker). The
    input is bounded before parsing as well as after, so a hostile body costs O(limit).
    """
    if not text:
        return ""
    # Invisible characters go before parsing as well as after (entities can decode to them):
    # "<A\x00>" is text to the parser but would become the tag "<A>", stripped on a second pass,
    # and the dedupe keys rely on cleaning twice giving what cleaning once gave.
    text = strip_html(_CONTROL.sub("", text[: limit * 4]))
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = _CONTROL.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _BLANK_LINES.sub("\n", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = re.sub(r"\n+", "\n", text).strip()
    return truncate(text, limit)


def clean_title(title: str | None) -> str:
    """A title on one line: headlines with embedded newlines exist in real feeds."""
    return clean_text(title, MAX_TITLE_CHARS).replace("\n", " ")


def normalise_title(title: str | None) -> str:
    """Comparison form of a title: case-folded words only, so punctuation, markup,
    entities and spacing differences between two copies of a headline do not matter."""
    if not title:
        return ""
    text = clean_title(title)
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return " ".join(_NOT_WORD.sub(" ", text).split())


# ---- URLs and times ---------------------------------------------------------------


def canonical_url(url: str | None) -> str | None:
    """URL with scheme/host lower-cased, default port, fragment and tracking parameters
    dropped, and the remaining query parameters sorted. ``None`` for anything that is not
    an absolute http(s) URL, because only those identify an article."""
    if not url:
        return None
    url = url.strip()
    if len(url) > MAX_URL_CHARS or any(ch.isspace() for ch in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    if not host:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key.lower() not in TRACKING_PARAMS and not key.lower().startswith(TRACKING_PREFIXES)
    ]
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(sorted(query)), ""))


def to_utc(moment: datetime, assume: timezone = UTC) -> datetime:
    """The same instant in UTC. A naive time is taken to be in ``assume`` (UTC by default),
    since feeds that omit the offset mostly mean UTC and guessing a local zone is worse."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=assume)
    return moment.astimezone(UTC)


# ---- keys and normalisation ---------------------------------------------------------


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()[:32]


def bounded_guid(guid: str | None) -> str | None:
    if guid is None:
        return None
    guid = _CONTROL.sub("", guid).strip()[:MAX_GUID_CHARS]
    return guid or None


def clean_tickers(tickers) -> tuple[str, ...]:
    """Upper-cased, de-duplicated ticker symbols in first-seen order; junk dropped."""
    seen: list[str] = []
    for ticker in tickers or ():
        symbol = str(ticker).strip().upper().lstrip("$")
        if _TICKER.match(symbol) and symbol not in seen:
            seen.append(symbol)
        if len(seen) == MAX_TICKERS:
            break
    return tuple(seen)


def dedupe_keys(source: str, guid: str | None, url: str | None, title: str | None) -> DedupeKeys:
    """Three independent identities of an article.

    GUIDs are only unique within one feed, so the source is part of that key; a canonical
    URL and a normalised title identify the story across feeds. Applying this to already
    normalised values gives the same keys (tested).
    """
    guid = bounded_guid(guid)
    canon = canonical_url(url)
    norm_title = normalise_title(title)
    return DedupeKeys(
        guid=_digest("guid", source, guid) if guid else None,
        url=_digest("url", canon) if canon else None,
        title=_digest("title", norm_title) if norm_title else None,
    )


def normalise(raw: RawArticle, fetched_at: datetime) -> Article:
    """Clean and bound every field of ``raw``; a missing date becomes the fetch time."""
    source = clean_title(raw.source)[:MAX_SOURCE_CHARS] or "unknown"
    title = clean_title(raw.title)
    text = clean_text(raw.text)
    if raw.published_at is None:
        published_at, precision = to_utc(fetched_at), "fetched"
    else:
        published_at, precision = to_utc(raw.published_at), raw.time_precision
    guid = bounded_guid(raw.guid)
    url = canonical_url(raw.url)
    return Article(
        source=source,
        title=title,
        text=text,
        raw_text=(raw.text or "")[:MAX_TEXT_CHARS],
        published_at=published_at,
        time_precision=precision,
        guid=guid,
        url=url,
        tickers=clean_tickers(raw.tickers),
        keys=dedupe_keys(source, guid, url, title),
    )


class Deduper:
    """In-memory duplicate check with the store's rules, for replay and benchmarks.

    GUID and URL keys are permanent identities. Title keys only count within
    ``title_window`` of each other, because boiler-plate headlines ("Stocks That Hit
    52-Week Highs On Friday") recur every week and are not duplicates of last month's.
    """

    def __init__(self, title_window: timedelta = timedelta(days=2)):
        self.title_window = title_window
        self._ids: set[str] = set()
        self._titles: dict[str, datetime] = {}

    def duplicate_of(self, article: Article) -> str | None:
        """Which key matched an earlier article ('guid', 'url', 'title'), or None."""
        keys = article.keys
        if keys.guid and keys.guid in self._ids:
            return "guid"
        if keys.url and keys.url in self._ids:
            return "url"
        seen = self._titles.get(keys.title) if keys.title else None
        if seen is not None and abs(article.published_at - seen) <= self.title_window:
            return "title"
        return None

    def add(self, article: Article) -> bool:
        """Remember the article; False (and nothing remembered) when it is a duplicate."""
        if self.duplicate_of(article):
            return False
        keys = article.keys
        self._ids.update(key for key in (keys.guid, keys.url) if key)
        if keys.title:
            self._titles[keys.title] = article.published_at
        return True
