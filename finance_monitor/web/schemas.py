"""The dashboard API's request and response models: pydantic validates the queries and bodies with them,
and the OpenAPI description (``api.api_spec``) is generated from the same classes, so the two never drift."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

UTC = dt.UTC
MAX_BUCKETS = 1000
MAX_SILENCE_MINUTES = 30 * 24 * 60
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
BY_PATTERN = r"^[^\x00-\x1f\x7f]+$"  # a name, printed in logs and pages: no control characters
SENTIMENTS = ("negative", "neutral", "positive")


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
