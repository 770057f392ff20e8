"""Articles, topics, source state, job runs, alerts, deliveries and state (written out: a revision must not follow later code)."""

revision = "0001"
down_revision = None

import sqlalchemy as sa
from alembic import op

from shared.storage import JSONDocument, UTCDateTime


def upgrade():
    _create_article_tables()
    _create_run_tables()
    _create_alert_tables()


def _create_article_tables():
    op.create_table(
        "fm_articles",
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
    op.create_table(
        "fm_article_topics",
        sa.Column("article_id", sa.Integer, sa.ForeignKey("fm_articles.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("topic", sa.String(100), primary_key=True),
        sa.Column("method", sa.String(16), nullable=False),  # ticker | keyword | embedding | classifier | general
        sa.Column("score", sa.Float, nullable=False),
        sa.Index("ix_fm_article_topics_topic", "topic"),
    )


def _create_run_tables():
    op.create_table(
        "fm_source_state",
        sa.Column("source", sa.String(100), primary_key=True),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("last_fetch_at", UTCDateTime),
        sa.Column("last_ok_at", UTCDateTime),
        sa.Column("last_status", sa.String(32)),
        sa.Column("last_error", sa.Text),
        sa.Column("cursor", JSONDocument),  # a replay source's simulated clock
    )
    op.create_table(
        "fm_job_runs",
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


def _create_alert_tables():
    op.create_table(
        "fm_alerts",
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
        sa.UniqueConstraint("fingerprint", "started_at", name="uq_fm_alerts_episode"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "fm_deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("alert_id", sa.Integer, sa.ForeignKey("fm_alerts.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("event", sa.String(16), nullable=False),  # fired | escalated | resolved
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "fm_state",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("value", JSONDocument, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
