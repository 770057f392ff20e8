"""The ``[finance_monitor]`` table of troika.toml, checked: sources, topics, buckets, detector, alerts.

Every key, with its default (a bad value is a ``ConfigError`` naming the key, as written)::

    [finance_monitor]
    sentiment_model = ""        # a directory from `troika finance train` (its -onnx export is preferred
                                # when it exists beside it); "" = the demo model, trained on first start
    bucket = "hour"             # "hour" or "day": the trend and detection bucket
    detect_every = 300          # seconds between detection runs; each re-sends firing alerts to Alertmanager
                                # channels, whose endsAt is 4 x this (see channel_config)
    retrain_every = 0           # seconds between retraining runs (learning analysts' sentiment corrections,
                                # see README); 0 = no retraining job
    misfire_grace = 120         # seconds a late job run may still start; later runs are recorded as missed
    topic_threshold = 0.3       # cosine similarity for embedding topic matches; false = keywords/tickers only
    batch_size = 64             # articles scored per model call
    admin_token = ""            # the dashboard's admin actions; "" = the suite's admin_token (closed when both unset)
    dashboard_url = ""          # link put in alert messages, e.g. "https://troika.example/finance/"
    scheduler = true            # `troika run` runs the scheduler (one per deployment, lock-protected);
                                # false when a separate `troika finance run` process does

    [finance_monitor.fetch]     # limits of every HTTP fetch
    connect_timeout = 5.0
    read_timeout = 10.0
    deadline = 30.0             # whole fetch, redirects included
    max_bytes = 5242880         # after decompression
    max_redirects = 5

    [finance_monitor.detector]  # one detection rule; or several as [[finance_monitor.rules]] (below)
    kind = "negative_volume"    # negative_volume | binomial_share | count | ewma_share | share_and_count
    alpha = 0.001               # sensitivity: smaller = fewer alerts
    critical_alpha = 1e-6       # p-values below it make an alert "critical"
    min_negative = 5            # negative items a window needs before it can fire
    min_total = 10              # items a window needs before it can fire
    min_ratio = 1.5             # window share (or count) at least this times the baseline's
    baseline_buckets = 28       # buckets in the rolling baseline
    min_baseline_buckets = 7
    window_buckets = 1          # buckets merged into the tested window (3 daily buckets: a slow sell-off)
    min_baseline_total = 50     # negative_volume / binomial_share / share_and_count: articles / items the baseline needs
    overdispersed = true        # count: negative binomial when the baseline is over-dispersed
    smoothing = 0.1             # ewma_share: weight of the newest bucket

    [[finance_monitor.rules]]   # instead of [finance_monitor.detector]: several rules, each with its own alerts
    name = "slow"               # optional: what its alerts' `rule` label says (default: kind and window)
    window_buckets = 7          # ... and any key of the detector table above
    baseline_buckets = 56

    With neither table the monitor runs two rules (``default_rules``): ``negative_volume`` as above,
    each bucket against the 28 before it (a sudden burst), and ``negative_volume/week``: the last 7
    days against the 56 days before them (at least 14 of them), whatever the bucket size. The weekly
    rule sees a slide that no single day makes significant: on the dev stream only it caught the Q4-2018
    sell-off (see README).

    [finance_monitor.alerts]
    fire_after = 1              # firing windows in a row before an alert opens
    resolve_after = 2           # quiet windows in a row before it resolves
    cooldown_hours = 24         # after a resolution, no new alert for the same topic and rule

    [[finance_monitor.sources]] # one table per source; none = the demo source below
    name = "wire"               # letters, digits, - and _; the job id is source:<name>
    kind = "rss"                # rss (RSS/Atom) | page (one HTML article page) | replay (a stream CSV)
    url = "https://news.example/rss"    # rss and page
    path = "data/stream.csv"    # replay: published_at,time_precision,source,ticker,headline,description
    interval = 900              # seconds between polls

    [[finance_monitor.topics]]  # see finance_monitor.topics; none = topics.DEFAULT_TOPICS
    [[finance_monitor.channels]]  # see finance_monitor.alerting.channel_config; none = the log channel

Relative paths (``sentiment_model``, a replay source's ``path``) are read from the current directory.

A replay source replays its CSV against the wall clock: on its first poll the rows are shifted
by whole buckets so the last one falls in the bucket before the current one, and the shift is kept
in the source's state; each poll stores the rows whose shifted time has passed. That is how the demo shows
live-looking data on a fresh machine.

Without any ``sources`` the monitor runs the demo: the replay source ``demo`` over
``finance_monitor/demo/stream.csv`` (original headlines with a burst of bad news about a made-up
bank in its last hour) and, unless ``[finance_monitor.detector]`` or ``rules`` say otherwise, one
rule with minimum counts sized for its few dozen rows (``DEMO_DETECTOR``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from shared.config import AppKey
from shared.errors import ConfigError

from .config_tables import Names, no_unknown_keys, tables
from .detect.alert_lifecycle import AlertPolicy
from .detect.detection import Rule
from .detect.spikes import AllOf, BinomialShareDetector, CountDetector, EwmaShareDetector, NegativeVolumeDetector
from .ingest.fetch import FetchLimits
from .scoring.topics import DEFAULT_THRESHOLD, DEFAULT_TOPICS, Topic, topics_from_config

SECTION = "finance_monitor"
DEMO_DIR = Path(__file__).parent / "demo"
DEMO_SOURCES = [{"name": "demo", "kind": "replay", "path": str(DEMO_DIR / "stream.csv"), "interval": 60}]
# The demo stream has ~60 rows over 32 hours: the default minimum counts (sized for real feeds) would never fire.
DEMO_DETECTOR = {"kind": "binomial_share", "min_total": 6, "min_negative": 4, "min_baseline_total": 5, "min_baseline_buckets": 6}
BUCKETS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
SOURCE_KINDS = ("rss", "page", "replay")
DETECTOR_KINDS = ("negative_volume", "binomial_share", "count", "ewma_share", "share_and_count")
_RULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_/-]{0,63}$")

TOP_KEYS = {"sentiment_model", "bucket", "detect_every", "retrain_every", "misfire_grace", "topic_threshold", "batch_size",
            "admin_token", "dashboard_url", "scheduler", "fetch", "detector", "rules", "alerts", "sources", "topics", "channels"}
COMMON_DETECTOR = {"alpha": float, "critical_alpha": float, "min_negative": int, "min_total": int, "min_ratio": float,
                   "baseline_buckets": int, "min_baseline_buckets": int, "window_buckets": int}
DETECTOR_EXTRA = {"negative_volume": {"min_baseline_total": int}, "binomial_share": {"min_baseline_total": int},
                  "count": {"overdispersed": bool, "min_rate": float}, "ewma_share": {"smoothing": float},
                  "share_and_count": {"min_baseline_total": int, "overdispersed": bool}}
FETCH_KEYS = {"connect_timeout": float, "read_timeout": float, "deadline": float, "max_bytes": int, "max_redirects": int}
ALERT_KEYS = {"fire_after": int, "resolve_after": int, "cooldown_hours": float}


@dataclass(frozen=True)
class Source:
    name: str
    kind: str  # rss | page | replay
    url: str | None = None
    path: Path | None = None
    interval: float = 900.0


@dataclass(frozen=True)
class MonitorSettings:
    sources: tuple[Source, ...]
    topics: tuple[Topic, ...]
    bucket: timedelta = BUCKETS["hour"]
    rules: tuple[Rule, ...] = field(default_factory=lambda: default_rules(BUCKETS["hour"]))
    policy: AlertPolicy = AlertPolicy()
    fetch: FetchLimits = FetchLimits()
    sentiment_model: Path | None = None
    detect_every: float = 300.0
    retrain_every: float | None = None
    misfire_grace: int = 120
    topic_threshold: float | None = DEFAULT_THRESHOLD
    batch_size: int = 64
    admin_token: str = ""
    dashboard_url: str | None = None
    channels: tuple = ()  # the raw [[finance_monitor.channels]] tables (channel_config.build_channels)
    demo: bool = False  # no sources configured: the demo replay source
    scheduler: bool = True  # troika run starts the scheduler

    def source(self, name: str) -> Source:
        for source in self.sources:
            if source.name == name:
                return source
        raise ConfigError(f"{SECTION}.sources: no source named {name!r}; configured: {', '.join(s.name for s in self.sources) or 'none'}")


def _typed(where: str, value, kind: type):
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is bool and isinstance(value, bool):
        return value
    if kind is str and isinstance(value, str):
        return value
    names = {float: "a number", int: "an integer", bool: "true or false", str: "a string"}
    raise ConfigError(f"{where}: expected {names[kind]}, got {value!r}")


def _table(where: str, value, keys: Mapping[str, type]) -> dict:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: must be a table ([{where}])")
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key; known: {', '.join(keys)}")
    return {k: _typed(f"{where}.{k}", v, keys[k]) for k, v in value.items()}


def _positive(where: str, value, kind=float) -> float:
    value = _typed(where, value, kind)
    if value <= 0:
        raise ConfigError(f"{where}: must be positive, got {value}")
    return value


def build_detector(table: Mapping | None, where: str = f"{SECTION}.detector"):
    """A spike detector from a ``[finance_monitor.detector]`` table (None: the default, ``negative_volume``)."""
    table = dict(table or {})
    kind = table.pop("kind", "negative_volume")
    if kind not in DETECTOR_KINDS:
        raise ConfigError(f"{where}.kind: {kind!r} is not one of {', '.join(DETECTOR_KINDS)}")
    options = _table(where, table, {**COMMON_DETECTOR, **DETECTOR_EXTRA[kind]})
    try:
        if kind == "negative_volume":
            return NegativeVolumeDetector(**options)
        if kind == "binomial_share":
            return BinomialShareDetector(**options)
        if kind == "count":
            return CountDetector(**options)
        if kind == "ewma_share":
            return EwmaShareDetector(**options)
        share = {k: v for k, v in options.items() if k != "overdispersed"}
        count = {k: v for k, v in options.items() if k != "min_baseline_total"}
        return AllOf((BinomialShareDetector(**share), CountDetector(**count)))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def default_rules(bucket: timedelta) -> tuple[Rule, ...]:
    """A burst rule (one bucket against the 28 before it) and a weekly rule sized in days, whatever the bucket."""
    per_day = max(1, timedelta(days=1) // bucket)
    weekly = NegativeVolumeDetector(window_buckets=7 * per_day, baseline_buckets=56 * per_day, min_baseline_buckets=14 * per_day)
    return (Rule.of(NegativeVolumeDetector()), Rule("negative_volume/week", weekly))


def _rules(section: Mapping, bucket: timedelta, demo: bool) -> tuple[Rule, ...]:
    if "detector" in section and "rules" in section:
        raise ConfigError(f"{SECTION}: give either [{SECTION}.detector] (one rule) or [[{SECTION}.rules]] (several), not both")
    if "detector" in section or demo and "rules" not in section:
        return (Rule.of(build_detector(section.get("detector", DEMO_DETECTOR))),)
    if "rules" not in section:
        return default_rules(bucket)
    entries, where = section["rules"], f"{SECTION}.rules"
    if not entries:
        raise ConfigError(f"{where}: must be a non-empty list of tables ([[{where}]]), each a detector table with an optional name")
    rules, names = [], Names("rule", _RULE_NAME, "1-64 letters, digits, '-', '_' or '/'")
    for at, entry in tables(entries, where, "a detector table with an optional name"):
        table = dict(entry)
        name = table.pop("name", None)  # none given: the detector's own name (rule_name)
        rule = Rule.of(build_detector(table, at), None if name is None else names.valid(at, name))
        rules.append(rule)
        names.unique(at, rule.name)
    return tuple(rules)


def _sources(entries, base: Path) -> tuple[Source, ...]:
    where, shape = f"{SECTION}.sources", "a source has name, kind, url or path, interval"
    sources, names = [], Names("source")
    for at, entry in tables(entries, where, shape):
        no_unknown_keys(at, entry, {"name", "kind", "url", "path", "interval"}, shape)
        name = names.take(at, entry.get("name"))
        kind = entry.get("kind")
        if kind not in SOURCE_KINDS:
            raise ConfigError(f"{at}.kind: {kind!r} is not one of {', '.join(SOURCE_KINDS)}")
        interval = _positive(f"{at}.interval", entry.get("interval", 900))
        if kind == "replay":
            path = entry.get("path")
            if not isinstance(path, str) or not path:
                raise ConfigError(f"{at}.path: missing; a replay source reads a stream CSV")
            path = Path(path) if Path(path).is_absolute() else base / path
            if not path.is_file():
                raise ConfigError(f"{at}.path: {path} does not exist")
            sources.append(Source(name, kind, path=path, interval=interval))
        else:
            url = entry.get("url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise ConfigError(f"{at}.url: missing or not an http(s) URL: {url!r}")
            sources.append(Source(name, kind, url=url, interval=interval))
    return tuple(sources)


def load_settings(section: Mapping | None, *, base: Path | None = None, admin_token: str = "", demo: bool = True) -> MonitorSettings:
    """Checked settings from the ``[finance_monitor]`` table; relative paths are relative to ``base`` (default: cwd).
    ``demo=False`` (a replay of an archive, ``backtest.replay_settings``): no demo source and no demo detector when
    the table names no sources."""
    section = dict(section or {})
    base = base or Path.cwd()
    unknown = sorted(set(section) - TOP_KEYS)
    if unknown:
        raise ConfigError(f"{SECTION}.{unknown[0]}: unknown key; known keys: {', '.join(sorted(TOP_KEYS))}")
    demo = demo and "sources" not in section
    sources = _sources(DEMO_SOURCES if demo else section.get("sources", []), base)
    topics = topics_from_config(section["topics"]) if section.get("topics") else topics_from_config(DEFAULT_TOPICS)
    bucket = section.get("bucket", "hour")
    if bucket not in BUCKETS:
        raise ConfigError(f"{SECTION}.bucket: {bucket!r} is not one of {', '.join(BUCKETS)}")
    rules = _rules(section, BUCKETS[bucket], demo)
    try:
        alerts = _table(f"{SECTION}.alerts", section.get("alerts", {}), ALERT_KEYS)
        policy = AlertPolicy(fire_after=alerts.get("fire_after", 1), resolve_after=alerts.get("resolve_after", 2),
                             cooldown=timedelta(hours=alerts.get("cooldown_hours", 24.0)))
    except ValueError as exc:
        raise ConfigError(f"{SECTION}.alerts: {exc}") from None
    try:
        fetch = FetchLimits(**_table(f"{SECTION}.fetch", section.get("fetch", {}), FETCH_KEYS))
    except ValueError as exc:
        raise ConfigError(f"{SECTION}.fetch: {exc}") from None
    model = section.get("sentiment_model", "")
    if not isinstance(model, str):
        raise ConfigError(f"{SECTION}.sentiment_model: expected a directory path (string), got {model!r}")
    model_path = None
    if model:
        model_path = Path(model) if Path(model).is_absolute() else base / model
        if not model_path.is_dir():
            raise ConfigError(f"{SECTION}.sentiment_model: {model_path} is not a directory (train one with `troika finance train`)")
    threshold = section.get("topic_threshold", DEFAULT_THRESHOLD)
    if threshold is False:
        threshold = None
    elif threshold is not None:
        threshold = _typed(f"{SECTION}.topic_threshold", threshold, float)
        if not -1 <= threshold <= 1:
            raise ConfigError(f"{SECTION}.topic_threshold: must be between -1 and 1 (cosine) or false, got {threshold}")
    retrain = _typed(f"{SECTION}.retrain_every", section.get("retrain_every", 0), float)
    if retrain < 0:
        raise ConfigError(f"{SECTION}.retrain_every: must be 0 (off) or positive, got {retrain}")
    channels = section.get("channels", [])
    if not isinstance(channels, list):
        raise ConfigError(f"{SECTION}.channels: must be a list of tables ([[{SECTION}.channels]])")
    token = _typed(f"{SECTION}.admin_token", section.get("admin_token", ""), str) or admin_token or ""
    dashboard = _typed(f"{SECTION}.dashboard_url", section.get("dashboard_url", ""), str) or None
    batch = int(_positive(f"{SECTION}.batch_size", section.get("batch_size", 64), int))
    return MonitorSettings(
        sources=sources, topics=tuple(topics), bucket=BUCKETS[bucket], rules=rules, policy=policy, fetch=fetch,
        sentiment_model=model_path, detect_every=_positive(f"{SECTION}.detect_every", section.get("detect_every", 300)),
        retrain_every=retrain or None, misfire_grace=int(_positive(f"{SECTION}.misfire_grace", section.get("misfire_grace", 120), int)),
        topic_threshold=threshold, batch_size=batch, admin_token=token, dashboard_url=dashboard, channels=tuple(channels), demo=demo,
        scheduler=_typed(f"{SECTION}.scheduler", section.get("scheduler", True), bool))


KEYS = [  # what troika config lists ([finance_monitor]); the defaults load_settings fills in
    AppKey("sentiment_model", None, "a directory from `troika finance train`; unset: the demo model, trained on first start",
           example="var/models/sentiment"),
    AppKey("bucket", "hour", 'size of the trend buckets spikes are found in: "hour" or "day"'),
    AppKey("detect_every", 300, "seconds between detection passes (firing alerts are re-sent to channels on each)"),
    AppKey("retrain_every", 0, "seconds between retrains on the analysts' corrections; 0: no retrain job"),
    AppKey("misfire_grace", 120, "seconds a late scheduled job may still run"),
    AppKey("topic_threshold", DEFAULT_THRESHOLD, "cosine an article needs to a topic's description to join it; false: keywords only"),
    AppKey("batch_size", 64, "articles scored per batch"),
    AppKey("admin_token", "", "token of the dashboard's admin actions; empty: the suite's admin_token"),
    AppKey("dashboard_url", None, "the dashboard's public URL, linked from alerts (generatorURL); unset: the server's own",
           example="https://troika.example.com/finance/"),
    AppKey("scheduler", True, "troika run starts the fetch/detect/retrain jobs"),
    AppKey("fetch", {key: getattr(FetchLimits(), key) for key in FETCH_KEYS},
           "limits of every fetch (seconds, bytes)"),
    AppKey("alerts", {"fire_after": 1, "resolve_after": 2, "cooldown_hours": 24.0},
           "alert lifecycle: windows to fire, quiet windows to resolve, hours before the same alert fires again"),
    AppKey("detector", None, "one spike rule for every topic ([finance_monitor.detector], kind = one of "
           f"{', '.join(DETECTOR_KINDS)}); unset: a burst rule and a weekly rule ([[finance_monitor.rules]] for several)"),
    AppKey("rules", None, "several named spike rules ([[finance_monitor.rules]]), each a detector table"),
    AppKey("sources", None, "feeds to poll ([[finance_monitor.sources]]: name, kind rss|page|replay, url or path, interval); "
           "unset: the demo replay"),
    AppKey("topics", None, "topics ([[finance_monitor.topics]]: name, description, keywords, tickers); unset: the built-in ones"),
    AppKey("channels", None, "where alerts go: a list of channel tables, one example of each type below; unset: the log"),
]
