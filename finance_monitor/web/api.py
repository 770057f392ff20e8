"""The dashboard's JSON API (``/api/...``), described at ``/finance/api/openapi/openapi.json``: what the
pages' charts draw from and what scripts use. Admin actions need the admin token in a header
(``Authorization: Bearer`` or ``X-Admin-Token``); errors are JSON."""

from __future__ import annotations

from flask import jsonify

from shared.openapi import api_spec as make_api_spec
from shared.route_groups import RouteGroup, documented_as
from shared.web import json_body, query_args

from .dashboard import dashboard
from .guards import require_admin
from .schemas import (
    AckIn,
    AlertOut,
    AlertsOut,
    AlertsQuery,
    ArticlesOut,
    ArticlesQuery,
    CorrectionIn,
    CorrectionOut,
    JobsOut,
    JobsQuery,
    RunNowOut,
    SilenceIn,
    TopicsOut,
    TrendOut,
    TrendQuery,
)

ADMIN = {"admin_token": []}
api_spec = make_api_spec("troika finance monitor API", path="finance/api/openapi",
                         description="Per-topic news sentiment trends, scored articles, negative-news alerts and "
                                     "the monitor's jobs: the data behind troika's alerting dashboard.")
routes = RouteGroup("finance")  # every route names its own tag


@routes.get("/api/topics")
@documented_as(query=TrendQuery, response=TopicsOut, errors=(400,), tags=["trends"])
def api_topics():
    """Every topic with its totals over the window and its newest bucket."""
    return jsonify(dashboard().topics_out(query_args(TrendQuery)))


@routes.get("/api/topics/<name>/trend")
@documented_as(query=TrendQuery, response=TrendOut, errors=(400, 404), tags=["trends"])
def topic_trend(name):
    """One topic per bucket: volume, negative count and share, mean score (dense: quiet buckets included)."""
    return jsonify(dashboard().trend_out(name, query_args(TrendQuery)))


@routes.get("/api/articles")
@documented_as(query=ArticlesQuery, response=ArticlesOut, errors=(400,), tags=["articles"])
def api_articles():
    """Scored articles, newest first."""
    q = query_args(ArticlesQuery)
    return jsonify(articles=dashboard().articles(topic=q.topic, sentiment=q.sentiment, since=q.since, until=q.until, limit=q.limit))


@routes.get("/api/alerts")
@documented_as(query=AlertsQuery, response=AlertsOut, errors=(400,), tags=["alerts"])
def api_alerts():
    """Alerts, latest firing first, with their evidence and top negative headlines."""
    q = query_args(AlertsQuery)
    return jsonify(alerts=dashboard().alerts(state=q.state, topic=q.topic, limit=q.limit))


@routes.post("/api/alerts/<int:alert_id>/ack")
@documented_as(body=AckIn, response=AlertOut, errors=(400, 401, 403, 404, 413, 415), tags=["alerts"], security=ADMIN)
def api_ack(alert_id):
    """Acknowledge an alert: someone is on it (it keeps firing until the news calms down)."""
    return jsonify(require_admin().acknowledge(alert_id, json_body(AckIn).by))


@routes.post("/api/alerts/<int:alert_id>/silence")
@documented_as(body=SilenceIn, response=AlertOut, errors=(400, 401, 403, 404, 413, 415), tags=["alerts"], security=ADMIN)
def api_silence(alert_id):
    """Hold an alert's notifications for a while (``minutes``: 0 lifts the silence)."""
    data = require_admin()
    body = json_body(SilenceIn)
    return jsonify(data.silence(alert_id, body.minutes, body.by))


@routes.post("/api/articles/<int:article_id>/sentiment")
@documented_as(body=CorrectionIn, response=CorrectionOut, status=201, errors=(400, 401, 403, 404, 413, 415),
               tags=["articles"], security=ADMIN)
def api_correct(article_id):
    """Correct an article's sentiment; the retraining job learns from corrections (its stored score is kept)."""
    data = require_admin()
    body = json_body(CorrectionIn)
    return jsonify(data.correct(article_id, body.label, body.by)), 201


@routes.get("/api/jobs")
@documented_as(query=JobsQuery, response=JobsOut, errors=(400,), tags=["jobs"])
def api_jobs():
    """Scheduler jobs and next runs, recent runs with errors and misses, each source's last fetch."""
    return jsonify(dashboard().jobs_out(query_args(JobsQuery)))


@routes.post("/api/jobs/<job_id>/run")
@documented_as(response=RunNowOut, status=202, errors=(401, 403, 404, 409), tags=["jobs"], security=ADMIN)
def api_run_now(job_id):
    """Run a job at the scheduler's next tick; its interval carries on afterwards."""
    require_admin().run_now(job_id)
    return jsonify(job_id=job_id, scheduled=True), 202
