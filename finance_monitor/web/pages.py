"""The dashboard's pages and their forms: ``/`` topics with trend charts, ``/topics/<name>`` one topic's
sentiment chart and headlines, ``/alerts`` alerts with their evidence and the acknowledge / silence
actions, ``/jobs`` scheduler jobs, runs, errors and misses and each source's last fetch.

They refresh themselves every 30 s. Any other address below the prefix, an unknown topic, and a form
on an alert, article or job that is gone answer with an HTML "Not found" page (404).
"""

from __future__ import annotations

import datetime as dt
import functools
import re

from flask import redirect, render_template, request, url_for
from werkzeug.routing import PathConverter

from shared.errors import NotFoundError
from shared.route_groups import RouteGroup
from shared.web import query_args

from .dashboard import dashboard
from .guards import form_label, form_minutes, form_text, require_form_admin
from .schemas import NAME_PATTERN, UTC, AlertsQuery, JobsQuery, TrendQuery

REFRESH_SECONDS = 30
PAGE_ARGS = ("refresh", "done")  # a page's own query parameters, not filters
routes = RouteGroup("pages")  # no page is in the OpenAPI description


class PagePath(PathConverter):
    """Any path below the dashboard but the JSON API's: the API keeps its JSON 404s and 405s."""

    regex = r"(?!api(?:/|$))[^/].*?"


def fm_time(value) -> str:
    """The pages' time format (the template filter ``fm_time``)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _refresh_seconds() -> int:
    value = request.args.get("refresh", "")
    return int(value) if value.isdigit() and 2 <= int(value) <= 3600 else REFRESH_SECONDS


def page(template: str, **context):
    return render_template(f"finance_monitor/{template}", refresh=_refresh_seconds(), now=dashboard().now(), **context)


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


# --- pages ----------------------------------------------------------------------------


@routes.get("/")
def overview():
    data = dashboard()
    recent = data.store.job_runs(limit=50)
    return page("overview.html", data=data.topics_out(), firing=data.alerts(state="firing", limit=20),
                job_problems=sum(r["outcome"] != "ok" for r in recent))


@routes.get("/topics/<name>")
@html_not_found
def topic_page(name):
    data = dashboard()
    topic = data.topic(name)
    trend = data.trend_out(name, TrendQuery())
    return page("topic.html", topic=topic, data=trend, articles=data.articles(topic=name, limit=50),
                alerts=data.alerts(topic=name, limit=10))


@routes.get("/alerts")
def alerts_page():
    query = query_args(AlertsQuery, ignore=PAGE_ARGS)
    return page("alerts.html", alerts=dashboard().alerts(state=query.state, topic=query.topic, limit=query.limit),
                state=query.state, done=request.args.get("done", ""))


@routes.get("/jobs")
def jobs_page():
    return page("jobs.html", data=dashboard().jobs_out(JobsQuery(limit=100)))


# --- forms (admin actions) ----------------------------------------------------------------


@routes.post("/alerts/<int:alert_id>/ack")
@html_not_found
def ack_form(alert_id):
    data = require_form_admin()
    data.acknowledge(alert_id, form_text("by", "dashboard"))
    return redirect(url_for(".alerts_page", done="acknowledged") + f"#alert-{alert_id}", code=303)


@routes.post("/alerts/<int:alert_id>/silence")
@html_not_found
def silence_form(alert_id):
    data = require_form_admin()
    minutes = form_minutes()
    data.silence(alert_id, minutes, form_text("by", "dashboard"))
    return redirect(url_for(".alerts_page", done="silenced" if minutes else "unsilenced") + f"#alert-{alert_id}", code=303)


@routes.post("/articles/<int:article_id>/sentiment")
@html_not_found
def correct_form(article_id):
    data = require_form_admin()
    data.correct(article_id, form_label(), form_text("by", "dashboard"))
    back = request.form.get("topic", "")
    target = url_for(".topic_page", name=back) if re.match(NAME_PATTERN, back) else url_for(".overview")
    return redirect(target + f"#article-{article_id}", code=303)


@routes.post("/jobs/<job_id>/run")
@html_not_found
def run_form(job_id):
    require_form_admin().run_now(job_id)
    return redirect(url_for(".jobs_page"), code=303)


@routes.get("/<fm_page:unknown>")
def unknown_page(unknown):
    return not_found_page(f"no page {request.path}")
