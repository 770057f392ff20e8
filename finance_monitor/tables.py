"""The finance monitor's tables (SQLAlchemy Core). Migrations create them; this is what code queries.

Articles carry three dedupe keys (``finance_monitor.ingest.normalise.dedupe_keys``): GUID and URL keys
are unique in the database, so ingesting the same feed twice, or from two processes at once,
leaves one row; several NULLs are allowed on both backends.
"""

import sqlalchemy as sa

from shared.storage import JSONDocument, UTCDateTime

metadata = sa.MetaData()

articles = sa.Table(
    "fm_articles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source", sa.String(100), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("raw_text", sa.Text, nullable=False),
    sa.Column("url", sa.Text),
    sa.Column("guid", sa.Text),
    sa.Column("published_at", UTCDateTime, nullable=False),
    sa.Column("time_precision", sa.String(16), nullable=False),
    sa.Column("tickers", JSONDocument, nullable=False),
    sa.Column("guid_key", sa.String(64), unique=True),
    sa.Column("url_key", sa.String(64), unique=True),
    sa.Column("title_key", sa.String(64), index=True),
    sa.Column("fetched_at", UTCDateTime, nullable=False),
    # Filled by scoring, which may come later than ingest (model not ready, backfill).
    sa.Column("sentiment", sa.String(16)),
    sa.Column("score", sa.Float),  # P(positive) - P(negative)
    sa.Column("probabilities", JSONDocument),
    sa.Column("model", sa.String(128)),
    sa.Index("ix_fm_articles_published", "published_at"),
    sqlite_autoincrement=True,
)

article_topics = sa.Table(
    "fm_article_topics",
    metadata,
    sa.Column("article_id", sa.Integer, sa.ForeignKey("fm_articles.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("topic", sa.String(100), primary_key=True),
    sa.Column("method", sa.String(16), nullable=False),  # ticker | keyword | embedding | classifier | general
    sa.Column("score", sa.Float, nullable=False),
    sa.Index("ix_fm_article_topics_topic", "topic"),
)

# Per source: what the last fetch said, for conditional requests and the dashboard.
source_state = sa.Table(
    "fm_source_state",
    metadata,
    sa.Column("source", sa.String(100), primary_key=True),
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
    sa.Column("last_fetch_at", UTCDateTime),
    sa.Column("last_ok_at", UTCDateTime),
    sa.Column("last_status", sa.String(32)),
    sa.Column("last_error", sa.Text),
    sa.Column("cursor", JSONDocument),  # a replay source's simulated clock
)

# Each scheduler job execution and each miss, shown on the dashboard.
job_runs = sa.Table(
    "fm_job_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("job_id", sa.String(200), nullable=False, index=True),
    sa.Column("outcome", sa.String(16), nullable=False),  # ok | error | missed
    sa.Column("scheduled_at", UTCDateTime),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("counts", JSONDocument, nullable=False),
    sqlite_autoincrement=True,
)

alerts = sa.Table(
    "fm_alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("topic", sa.String(100), nullable=False),
    sa.Column("rule", sa.String(100), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # firing | resolved
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("last_fired_at", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime),
    sa.Column("windows_fired", sa.Integer, nullable=False),
    sa.Column("suppressed", sa.Integer, nullable=False),
    sa.Column("evidence", JSONDocument, nullable=False),
    # Set by the dashboard's actions (migration 0002); save_alert never touches them.
    sa.Column("acknowledged_at", UTCDateTime),
    sa.Column("acknowledged_by", sa.String(100)),
    sa.Column("silenced_until", UTCDateTime),  # notifications for this alert are held until then
    sa.Column("silenced_by", sa.String(100)),
    sa.UniqueConstraint("fingerprint", "started_at", name="uq_fm_alerts_episode"),
    sqlite_autoincrement=True,
)

# Each attempt to send an alert event to a channel, whatever happened.
deliveries = sa.Table(
    "fm_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("alert_id", sa.Integer, sa.ForeignKey("fm_alerts.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("event", sa.String(16), nullable=False),  # fired | escalated | resolved | refresh (a failed re-send to Alertmanager)
    sa.Column("channel", sa.String(100), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sqlite_autoincrement=True,
)

# Small named JSON documents that must survive restarts (the alert book's counters).
state = sa.Table(
    "fm_state",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("value", JSONDocument, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Analysts' corrections of an article's sentiment (the dashboard's), the retraining job's labelled data.
# A correction is learned once a retrained model that saw it is promoted (``learned_at``); an article
# corrected twice keeps both rows and the newest counts.
sentiment_corrections = sa.Table(
    "fm_sentiment_corrections",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("label", sa.String(16), nullable=False),  # negative | neutral | positive
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("learned_at", UTCDateTime),  # set when a model trained on it was promoted
    sa.Column("corrected_by", sa.String(100), nullable=False),
    sa.Column("article_id", sa.Integer, sa.ForeignKey("fm_articles.id", ondelete="CASCADE"), nullable=False, index=True),
    sqlite_autoincrement=True,
)
