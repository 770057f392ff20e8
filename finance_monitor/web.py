"""The monitor's HTTP face: the alerting dashboard, its JSON API and its Prometheus metrics.

Flask only at the edge: views validate their input, read ``monitor.store`` (and the trends
computed from it) and shape HTML or JSON. ``monitor`` is any object with ``store``
(MonitorStore), ``topics`` (list of Topic), ``bucket`` (timedelta), ``scheduler``
(MonitorScheduler or None) and ``admin_token`` (the token admin actions need; None or
empty closes them; a monitor without the attribute uses the suite's ``admin_token`` setting)::

    bp = make_blueprint(monitor)
    Plugin(..., blueprint=bp, url_prefix="/finance", api_spec=api_spec)

Pages (under the prefix): ``/`` topics with trend charts, ``/topics/<name>`` one topic's
sentiment chart and headlines, ``/alerts`` alerts with their evidence and the acknowledge /
silence actions, ``/jobs`` scheduler jobs, runs, errors and misses and each source's last
fetch. They refresh themselves every 30 s. Any other address below the prefix, an unknown topic, and a form
on an alert, article or job that is gone answer with an HTML "Not found" page (404); ``/api/...`` keeps JSON errors. Charts are drawn in the browser by Chart.js
(vendored in ``static/vendor`` with its licence; nothing is loaded from a CDN) from the same
JSON API that scripts use (``/api/...``, described at ``/finance/api/openapi/openapi.json``).

Admin actions (acknowledge, silence, run a job now, correct an article's sentiment) need the admin token: in the
``Authorization: Bearer`` or ``X-Admin-Token`` header for the JSON API, or, from the pages'
forms, in the form field ``token``. A cross-site form cannot know the token, and requests a
browser marks ``Sec-Fetch-Site: cross-site`` are refused outright, so the forms are CSRF-safe
without cookies.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from typing import Any, Literal

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator
from werkzeug.exceptions import Forbidden, UnsupportedMediaType
from werkzeug.routing import PathConverter

from shared.errors import ConflictError, NotFoundError
from shared.openapi import api_spec as make_api_spec
from shared.openapi import documented
from shared.prometheus import add_metrics_collector
from shared.web import check_token, current_config, field_error, json_body

from .topics import GENERAL_TOPIC, Topic
from .trends import Trend, topic_trends, window

log = logging.getLogger(__name__)

UTC = dt.timezone.utc
ADMIN = {"admin_token": []}
REFRESH_SECONDS = 30
MAX_BUCKETS = 1000
MAX_SILENCE_MINUTES = 30 * 24 * 60
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
BY_PATTERN = r"^[^\x00-\x1f\x7f]+$"  # a name, printed in logs and pages: no control characters
SENTIMENTS = ("negative", "neutral", "positive")
# How many buckets a chart shows by default: a month of days, two days of hours.
DEFAULT_BUCKETS = {dt.timedelta(days=1): 30, dt.timedelta(hours=1): 48}
BUCKETS = {"hour": dt.timedelta(hours=1), "day": dt.timedelta(days=1)}

api_spec = make_api_spec("troika finance monitor API", path="finance/api/openapi",
                         description="Per-topic news sentiment trends, scored articles, negative-news alerts and "
                                     "the monitor's jobs: the data behind troika's alerting dashboard.")


# --- request and response models ------------------------------------------------------


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


EARLIEST = dt.datetime(1971, 1, 1, tzinfo=UTC)
LATEST = dt.datetime(2999, 12, 31, tzinfo=UTC)


def _clamped(value: dt.datetime | None) -> dt.datetime | None:
    """In UTC, and within EARLIEST..LATEST: there is no news outside, and bucket arithmetic stays in range."""
    if value is None:
        return None
    if value.year < EARLIEST.year:
        return EARLIEST
    if value.year > LATEST.year - 1:
        return LATEST
    return value.astimezone(UTC)


class TrendQuery(Strict):
    bucket: Literal["hour", "day"] | None = Field(default=None, description="bucket size; default: the monitor's")
    buckets: int | None = Field(default=None, ge=1, le=MAX_BUCKETS, description="how many buckets, ending with the one holding until")
    until: AwareDatetime | None = Field(default=None, description="default: now (times before 1971 or after 2998 are clamped)")

    check_year = field_validator("until")(_clamped)


class ArticlesQuery(Strict):
    topic: str | None = Field(default=None, pattern=NAME_PATTERN)
    sentiment: Literal["negative", "neutral", "positive"] | None = None
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    limit: int = Field(default=50, ge=1, le=500)

    check_year = field_validator("since", "until")(_clamped)


class AlertsQuery(Strict):
    state: Literal["firing", "resolved"] | None = None
    topic: str | None = Field(default=None, pattern=NAME_PATTERN)
    limit: int = Field(default=100, ge=1, le=500)


class JobsQuery(Strict):
    job: str | None = Field(default=None, min_length=1, max_length=200)
    outcome: Literal["ok", "error", "missed"] | None = None
    limit: int = Field(default=50, ge=1, le=500)


class AckIn(Strict):
    by: str = Field(default="admin", min_length=1, max_length=100, pattern=BY_PATTERN, description="who acknowledges it")


class SilenceIn(Strict):
    minutes: int = Field(ge=0, le=MAX_SILENCE_MINUTES, description="hold notifications this long; 0 lifts a silence")
    by: str = Field(default="admin", min_length=1, max_length=100, pattern=BY_PATTERN)


class CorrectionIn(Strict):
    label: Literal["negative", "neutral", "positive"] = Field(description="the article's sentiment as an analyst reads it")
    by: str = Field(default="admin", min_length=1, max_length=100, pattern=BY_PATTERN, description="who corrects it")


class PointOut(BaseModel):
    start: dt.datetime
    volume: int
    negative: int
    negative_share: float
    mean_score: float | None


class TopicOut(BaseModel):
    name: str
    description: str
    keywords: list[str]
    tickers: list[str]
    volume: int = Field(description="articles in the window")
    negative: int
    negative_share: float
    firing_alerts: int
    latest: PointOut | None = Field(description="the newest bucket")


class TopicsOut(BaseModel):
    bucket: str
    bucket_seconds: int
    since: dt.datetime
    until: dt.datetime
    topics: list[TopicOut]


class TrendOut(BaseModel):
    topic: str
    bucket: str
    bucket_seconds: int
    since: dt.datetime
    until: dt.datetime
    too_coarse: int = Field(description="articles left out: their time precision is wider than a bucket")
    points: list[PointOut]


class ArticleOut(BaseModel):
    id: int
    title: str
    url: str | None
    source: str
    published_at: dt.datetime
    time_precision: str
    sentiment: str | None
    score: float | None
    topics: list[str]


class ArticlesOut(BaseModel):
    articles: list[ArticleOut]


class HeadlineOut(BaseModel):
    id: int
    title: str
    url: str | None
    sentiment: str | None
    score: float | None


class AlertOut(BaseModel):
    id: int
    fingerprint: str
    topic: str
    rule: str
    severity: str
    state: str
    started_at: dt.datetime
    last_fired_at: dt.datetime
    resolved_at: dt.datetime | None
    windows_fired: int
    suppressed: int
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    silenced_until: dt.datetime | None
    silenced_by: str | None
    silenced: bool = Field(description="notifications are held now")
    evidence: dict[str, Any] = Field(description="counts, baseline, p-value and the top negative article ids of the strongest window")
    headlines: list[HeadlineOut] = Field(description="the evidence's top negative headlines")


class AlertsOut(BaseModel):
    alerts: list[AlertOut]


class JobRunOut(BaseModel):
    id: int
    job_id: str
    outcome: str
    scheduled_at: dt.datetime | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    detail: str
    counts: dict[str, Any]


class JobOut(BaseModel):
    id: str
    next_run_at: dt.datetime | None


class SourceOut(BaseModel):
    source: str
    last_fetch_at: dt.datetime | None
    last_ok_at: dt.datetime | None
    last_status: str | None
    last_error: str | None


class JobsOut(BaseModel):
    scheduler_running: bool
    jobs: list[JobOut]
    runs: list[JobRunOut]
    errors: int = Field(description="errors among the runs listed")
    missed: int = Field(description="misses among the runs listed")
    sources: list[SourceOut]


class CorrectionOut(BaseModel):
    id: int
    article_id: int
    label: str
    corrected_by: str
    created_at: dt.datetime
    learned_at: dt.datetime | None = Field(description="when a retrained model that learned it was promoted")


class RunNowOut(BaseModel):
    job_id: str
    scheduled: bool


def _query(model: type[BaseModel], *, page_args: bool = False):
    args = request.args.to_dict()
    if page_args:  # a page's own parameters, not filters
        args = {k: v for k, v in args.items() if k not in ("refresh", "done")}
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        field_error(".".join(str(p) for p in first["loc"]) or "query", first["msg"])


# --- reading the monitor --------------------------------------------------------------


def bucket_name(size: dt.timedelta) -> str:
    return {v: k for k, v in BUCKETS.items()}.get(size, f"{int(size.total_seconds())}s")


class Views:
    """What pages and API share: the monitor's data shaped once."""

    def __init__(self, monitor):
        self.monitor = monitor

    @property
    def store(self):
        return self.monitor.store

    def now(self) -> dt.datetime:
        return self.store.clock()

    def topics(self) -> list[Topic]:
        topics = list(self.monitor.topics or [])
        if GENERAL_TOPIC not in {t.name for t in topics}:
            topics.append(Topic(GENERAL_TOPIC, "All market news: every article counts here."))
        return topics

    def topic(self, name: str) -> Topic:
        for topic in self.topics():
            if topic.name == name:
                return topic
        raise NotFoundError(f"no topic {name!r}; the topics are {', '.join(t.name for t in self.topics())}")

    def span(self, query: TrendQuery | None = None) -> tuple[dt.timedelta, dt.datetime, dt.datetime]:
        size = BUCKETS[query.bucket] if query and query.bucket else self.monitor.bucket
        count = (query.buckets if query else None) or DEFAULT_BUCKETS.get(size, 48)
        since, until = window(size, count, (query.until if query else None) or self.now())
        return size, since, until

    def trends(self, query: TrendQuery | None = None, names=None) -> tuple[dt.timedelta, dt.datetime, dt.datetime, dict[str, Trend]]:
        size, since, until = self.span(query)
        names = [t.name for t in self.topics()] if names is None else names
        found = topic_trends(self.store, size, start=since, end=until, topics=names)
        return size, since, until, {name: found[name] for name in names}

    def firing_by_topic(self) -> dict[str, int]:
        return {topic: n for (topic, state), n in self.store.alert_counts().items() if state == "firing"}

    def topics_out(self, query: TrendQuery | None = None) -> dict:
        size, since, until, trends = self.trends(query)
        firing = self.firing_by_topic()
        out = []
        for topic in self.topics():
            trend = trends[topic.name]
            volume, negative = trend.volume, trend.negative
            out.append(TopicOut(name=topic.name, description=topic.description, keywords=list(topic.keywords),
                                tickers=list(topic.tickers), volume=volume, negative=negative,
                                negative_share=round(negative / volume, 4) if volume else 0.0,
                                firing_alerts=firing.get(topic.name, 0),
                                latest=trend.points[-1].to_dict() if trend.points else None))
        return TopicsOut(bucket=bucket_name(size), bucket_seconds=int(size.total_seconds()), since=since, until=until,
                         topics=out).model_dump(mode="json")

    def trend_out(self, name: str, query: TrendQuery) -> dict:
        self.topic(name)
        size, since, until, trends = self.trends(query, names=[name])
        trend = trends[name]
        return TrendOut(topic=name, bucket=bucket_name(size), bucket_seconds=int(size.total_seconds()), since=since, until=until,
                        too_coarse=trend.too_coarse, points=[p.to_dict() for p in trend.points]).model_dump(mode="json")

    def articles(self, **filters) -> list[dict]:
        rows = self.store.articles(**filters)
        return [ArticleOut.model_validate(r).model_dump(mode="json") for r in rows]

    def alerts(self, **filters) -> list[dict]:
        rows = self.store.alerts(**filters)
        ids = [i for r in rows for i in (r["evidence"] or {}).get("top_negative_ids", [])]
        found = {a["id"]: a for a in self.store.articles_by_id(ids)}
        return [self.alert_out(r, found) for r in rows]

    def alert_out(self, row: dict, articles: dict | None = None) -> dict:
        evidence = row["evidence"] or {}
        if articles is None:
            articles = {a["id"]: a for a in self.store.articles_by_id(evidence.get("top_negative_ids", []))}
        headlines = [HeadlineOut.model_validate(articles[i]) for i in evidence.get("top_negative_ids", []) if i in articles]
        silenced = bool(row.get("silenced_until") and row["silenced_until"] > self.now())
        return AlertOut.model_validate({**row, "evidence": evidence, "silenced": silenced, "headlines": headlines}).model_dump(mode="json")

    def jobs_out(self, query: JobsQuery) -> dict:
        scheduler = self.monitor.scheduler
        running = bool(scheduler is not None and getattr(scheduler, "running", False))
        jobs = scheduler.jobs() if running else []
        runs = self.store.job_runs(job_id=query.job, outcome=query.outcome, limit=query.limit)
        return JobsOut(scheduler_running=running, jobs=jobs, runs=runs,
                       errors=sum(r["outcome"] == "error" for r in runs), missed=sum(r["outcome"] == "missed" for r in runs),
                       sources=self.store.source_states()).model_dump(mode="json")

    def acknowledge(self, alert_id: int, by: str) -> dict:
        row = self.store.acknowledge_alert(alert_id, by)
        if row is None:
            raise NotFoundError(f"no alert {alert_id}")
        log.info("alert %s (%s) acknowledged by %s", alert_id, row["topic"], by)
        return self.alert_out(row)

    def silence(self, alert_id: int, minutes: int, by: str) -> dict:
        until = self.now() + dt.timedelta(minutes=minutes) if minutes else None
        row = self.store.silence_alert(alert_id, until, by)
        if row is None:
            raise NotFoundError(f"no alert {alert_id}")
        log.info("alert %s (%s) %s by %s", alert_id, row["topic"], f"silenced for {minutes} min" if minutes else "unsilenced", by)
        return self.alert_out(row)

    def correct(self, article_id: int, label: str, by: str) -> dict:
        row = self.store.correct_sentiment(article_id, label, by)
        if row is None:
            raise NotFoundError(f"no article {article_id}")
        log.info("article %s: sentiment corrected to %s by %s", article_id, label, by)
        return CorrectionOut.model_validate(row).model_dump(mode="json")

    def run_now(self, job_id: str) -> None:
        scheduler = self.monitor.scheduler
        if scheduler is None or not getattr(scheduler, "running", False):
            raise ConflictError("no scheduler runs in this server process; start the monitor with its scheduler to run jobs")
        if job_id not in {j["id"] for j in scheduler.jobs()}:
            raise NotFoundError(f"no job {job_id!r}")
        scheduler.run_now(job_id)
        log.info("job %s asked to run now", job_id)


# --- metrics --------------------------------------------------------------------------


class MonitorCollector:
    """The monitor's state for Prometheus, counted from the store at each scrape."""

    def __init__(self, views: Views):
        self.views = views

    def collect(self):
        store = self.views.store
        up = GaugeMetricFamily("troika_finance_store_up", "1 when the monitor's store answered this scrape")
        try:
            sentiments = store.sentiment_counts()
            alerts = store.alert_counts()
            runs = store.job_run_counts()
            sources = store.source_states()
            topics = [t.name for t in self.views.topics()]
        except Exception:
            log.exception("metrics: the monitor's store did not answer")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield CounterMetricFamily("troika_finance_articles_ingested", "Articles stored (after deduplication)",
                                  value=sum(sentiments.values()))
        scored = GaugeMetricFamily("troika_finance_articles", "Articles by sentiment (unscored: waiting for the model)",
                                   labels=["sentiment"])
        for label in (*SENTIMENTS, None):
            scored.add_metric([label or "unscored"], sentiments.get(label, 0))
        yield scored
        firing = GaugeMetricFamily("troika_finance_alerts_firing", "Alerts firing now, per topic", labels=["topic"])
        for topic in sorted(set(topics) | {t for t, _ in alerts}):
            firing.add_metric([topic], alerts.get((topic, "firing"), 0))
        yield firing
        job_runs = CounterMetricFamily("troika_finance_job_runs", "Scheduler job runs recorded, by outcome (ok, error, missed)",
                                       labels=["job", "outcome"])
        for (job, outcome), n in sorted(runs.items()):
            job_runs.add_metric([job, outcome], n)
        yield job_runs
        last_ok = GaugeMetricFamily("troika_finance_source_last_ok_timestamp_seconds", "When each source was last fetched successfully",
                                    labels=["source"])
        for row in sources:
            if row.get("last_ok_at"):
                last_ok.add_metric([row["source"]], row["last_ok_at"].timestamp())
        yield last_ok


# --- the blueprint --------------------------------------------------------------------


def _header_token() -> str | None:
    auth = request.authorization
    if auth is not None and auth.type == "bearer" and auth.token:
        return auth.token
    return request.headers.get("X-Admin-Token") or None


def _expected_token(monitor) -> str:
    """The monitor's admin token when it carries one (None or empty: closed), else the suite's setting."""
    if hasattr(monitor, "admin_token"):
        return monitor.admin_token or ""
    return current_config().admin_token


def _require_admin(monitor) -> None:
    """The JSON API's guard: the token in a header; none configured → 403 (closed), none or wrong given → 401."""
    check_token(_expected_token(monitor), _header_token(), what="admin token", setting="TROIKA_ADMIN_TOKEN",
                how="Authorization: Bearer <token> or X-Admin-Token")


def _require_form_admin(monitor) -> None:
    """The dashboard forms' guard: the token in the form field ``token`` (or a header); never from another site."""
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise Forbidden("this action is refused from another site's page")
    if request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise UnsupportedMediaType("send the action as a form (application/x-www-form-urlencoded)")
    check_token(_expected_token(monitor), _header_token() or request.form.get("token") or None, what="admin token",
                setting="TROIKA_ADMIN_TOKEN", how="the form's token field, Authorization: Bearer <token> or X-Admin-Token")


def _form_text(name: str, default: str, limit: int = 100) -> str:
    value = (request.form.get(name) or default).strip()
    if not value or len(value) > limit or not re.match(BY_PATTERN, value):
        field_error(name, f"must be 1-{limit} characters, none of them control characters")
    return value


def _refresh_seconds() -> int:
    value = request.args.get("refresh", "")
    return int(value) if value.isdigit() and 2 <= int(value) <= 3600 else REFRESH_SECONDS


class PagePath(PathConverter):
    """Any path below the dashboard but the JSON API's: the API keeps its JSON 404s and 405s."""

    regex = r"(?!api(?:/|$))[^/].*?"


def make_blueprint(monitor) -> Blueprint:
    """The dashboard and API blueprint (mount it under /finance); document it with :data:`api_spec`."""
    bp = Blueprint("finance_monitor", __name__, template_folder="templates", static_folder="static",
                   static_url_path="/static/finance_monitor")
    views = Views(monitor)
    bp.api_spec = api_spec
    api_spec.__dict__.pop("_spec", None)  # a new blueprint: describe its app's routes afresh
    bp.record_once(lambda state: add_metrics_collector(state.app, MonitorCollector(views)))
    # Before any route is recorded, so the catch-all page route below finds its converter.
    bp.record_once(lambda state: state.app.url_map.converters.setdefault("fm_page", PagePath))

    @bp.app_template_filter("fm_time")
    def fm_time(value) -> str:
        if value is None:
            return "—"
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")

    def page(template: str, **context):
        return render_template(f"finance_monitor/{template}", refresh=_refresh_seconds(), now=views.now(), **context)

    def not_found_page(message: str):
        # A person followed a link or typed an address: a page, not the API's JSON error.
        return page("not_found.html", message=message), 404

    def html_not_found(view):
        """A page or form whose record is gone answers with the not-found page."""

        @functools.wraps(view)
        def answer(*args, **kwargs):
            try:
                return view(*args, **kwargs)
            except NotFoundError as exc:
                return not_found_page(str(exc))

        return answer

    # --- pages ------------------------------------------------------------------------

    @bp.get("/")
    def overview():
        data = views.topics_out()
        recent = views.store.job_runs(limit=50)
        return page("overview.html", data=data, firing=views.alerts(state="firing", limit=20),
                    job_problems=sum(r["outcome"] != "ok" for r in recent))

    @bp.get("/topics/<name>")
    @html_not_found
    def topic_page(name):
        topic = views.topic(name)
        data = views.trend_out(name, TrendQuery())
        return page("topic.html", topic=topic, data=data, articles=views.articles(topic=name, limit=50),
                    alerts=views.alerts(topic=name, limit=10))

    @bp.get("/alerts")
    def alerts_page():
        query = _query(AlertsQuery, page_args=True)
        return page("alerts.html", alerts=views.alerts(state=query.state, topic=query.topic, limit=query.limit),
                    state=query.state, done=request.args.get("done", ""))

    @bp.get("/jobs")
    def jobs_page():
        return page("jobs.html", data=views.jobs_out(JobsQuery(limit=100)))

    @bp.post("/alerts/<int:alert_id>/ack")
    @html_not_found
    def ack_form(alert_id):
        _require_form_admin(monitor)
        views.acknowledge(alert_id, _form_text("by", "dashboard"))
        return redirect(url_for(".alerts_page", done="acknowledged") + f"#alert-{alert_id}", code=303)

    @bp.post("/alerts/<int:alert_id>/silence")
    @html_not_found
    def silence_form(alert_id):
        _require_form_admin(monitor)
        raw = request.form.get("minutes", "")
        if not raw.isdigit() or int(raw) > MAX_SILENCE_MINUTES:
            field_error("minutes", f"must be a whole number from 0 to {MAX_SILENCE_MINUTES}")
        views.silence(alert_id, int(raw), _form_text("by", "dashboard"))
        return redirect(url_for(".alerts_page", done="silenced" if int(raw) else "unsilenced") + f"#alert-{alert_id}", code=303)

    @bp.post("/articles/<int:article_id>/sentiment")
    @html_not_found
    def correct_form(article_id):
        _require_form_admin(monitor)
        label = request.form.get("label", "")
        if label not in SENTIMENTS:
            field_error("label", f"must be one of {', '.join(SENTIMENTS)}")
        views.correct(article_id, label, _form_text("by", "dashboard"))
        back = request.form.get("topic", "")
        target = url_for(".topic_page", name=back) if re.match(NAME_PATTERN, back) else url_for(".overview")
        return redirect(target + f"#article-{article_id}", code=303)

    @bp.post("/jobs/<job_id>/run")
    @html_not_found
    def run_form(job_id):
        _require_form_admin(monitor)
        views.run_now(job_id)
        return redirect(url_for(".jobs_page"), code=303)

    @bp.get("/<fm_page:unknown>")
    def unknown_page(unknown):
        return not_found_page(f"no page {request.path}")

    # --- JSON API ---------------------------------------------------------------------

    @bp.get("/api/topics")
    @documented(api_spec, query=TrendQuery, response=TopicsOut, errors=(400,), tags=["trends"])
    def api_topics():
        """Every topic with its totals over the window and its newest bucket."""
        return jsonify(views.topics_out(_query(TrendQuery)))

    @bp.get("/api/topics/<name>/trend")
    @documented(api_spec, query=TrendQuery, response=TrendOut, errors=(400, 404), tags=["trends"])
    def topic_trend(name):
        """One topic per bucket: volume, negative count and share, mean score (dense: quiet buckets included)."""
        return jsonify(views.trend_out(name, _query(TrendQuery)))

    @bp.get("/api/articles")
    @documented(api_spec, query=ArticlesQuery, response=ArticlesOut, errors=(400,), tags=["articles"])
    def api_articles():
        """Scored articles, newest first."""
        q = _query(ArticlesQuery)
        return jsonify(articles=views.articles(topic=q.topic, sentiment=q.sentiment, since=q.since, until=q.until, limit=q.limit))

    @bp.get("/api/alerts")
    @documented(api_spec, query=AlertsQuery, response=AlertsOut, errors=(400,), tags=["alerts"])
    def api_alerts():
        """Alerts, latest firing first, with their evidence and top negative headlines."""
        q = _query(AlertsQuery)
        return jsonify(alerts=views.alerts(state=q.state, topic=q.topic, limit=q.limit))

    @bp.post("/api/alerts/<int:alert_id>/ack")
    @documented(api_spec, body=AckIn, response=AlertOut, errors=(400, 401, 403, 404, 413, 415), tags=["alerts"], security=ADMIN)
    def api_ack(alert_id):
        """Acknowledge an alert: someone is on it (it keeps firing until the news calms down)."""
        _require_admin(monitor)
        return jsonify(views.acknowledge(alert_id, json_body(AckIn).by))

    @bp.post("/api/alerts/<int:alert_id>/silence")
    @documented(api_spec, body=SilenceIn, response=AlertOut, errors=(400, 401, 403, 404, 413, 415), tags=["alerts"], security=ADMIN)
    def api_silence(alert_id):
        """Hold an alert's notifications for a while (``minutes``: 0 lifts the silence)."""
        _require_admin(monitor)
        body = json_body(SilenceIn)
        return jsonify(views.silence(alert_id, body.minutes, body.by))

    @bp.post("/api/articles/<int:article_id>/sentiment")
    @documented(api_spec, body=CorrectionIn, response=CorrectionOut, status=201, errors=(400, 401, 403, 404, 413, 415),
                tags=["articles"], security=ADMIN)
    def api_correct(article_id):
        """Correct an article's sentiment; the retraining job learns from corrections (its stored score is kept)."""
        _require_admin(monitor)
        body = json_body(CorrectionIn)
        return jsonify(views.correct(article_id, body.label, body.by)), 201

    @bp.get("/api/jobs")
    @documented(api_spec, query=JobsQuery, response=JobsOut, errors=(400,), tags=["jobs"])
    def api_jobs():
        """Scheduler jobs and next runs, recent runs with errors and misses, each source's last fetch."""
        return jsonify(views.jobs_out(_query(JobsQuery)))

    @bp.post("/api/jobs/<job_id>/run")
    @documented(api_spec, response=RunNowOut, status=202, errors=(401, 403, 404, 409), tags=["jobs"], security=ADMIN)
    def api_run_now(job_id):
        """Run a job at the scheduler's next tick; its interval carries on afterwards."""
        _require_admin(monitor)
        views.run_now(job_id)
        return jsonify(job_id=job_id, scheduled=True), 202

    return bp
