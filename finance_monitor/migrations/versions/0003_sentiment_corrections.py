"""Analysts' sentiment corrections, which the retraining job learns from (written out: a revision must not follow later code)."""

revision = "0003"
down_revision = "0002"

import sqlalchemy as sa
from alembic import op

from shared.storage import UTCDateTime


def upgrade():
    op.create_table(
        "fm_sentiment_corrections",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("learned_at", UTCDateTime),
        sa.Column("corrected_by", sa.String(100), nullable=False),
        sa.Column("article_id", sa.Integer, sa.ForeignKey("fm_articles.id", ondelete="CASCADE"), nullable=False, index=True),
        sqlite_autoincrement=True,
    )
