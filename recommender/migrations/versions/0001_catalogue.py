"""Items, users, feedback and impressions (written out: a revision must not follow later code)."""

revision = "0001"
down_revision = None

import sqlalchemy as sa
from alembic import op

from shared.storage import JSONDocument, UTCDateTime


def upgrade():
    op.create_table(
        "rec_items",
        sa.Column("id", sa.String(256), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("categories", JSONDocument, nullable=False),
        sa.Column("labels", JSONDocument, nullable=False),
        sa.Column("hidden", sa.Boolean, nullable=False),
        sa.Column("timestamp", UTCDateTime),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "rec_users",
        sa.Column("id", sa.String(256), primary_key=True),
        sa.Column("labels", JSONDocument, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "rec_feedback",
        sa.Column("type", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(256), primary_key=True),
        sa.Column("item_id", sa.String(256), primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("timestamp", UTCDateTime, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
    )
    op.create_index("ix_rec_feedback_item", "rec_feedback", ["item_id"])
    op.create_index("ix_rec_feedback_user_time", "rec_feedback", ["user_id", "timestamp"])
    op.create_table(
        "rec_impressions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.String(256), nullable=False, index=True),
        sa.Column("shown", JSONDocument, nullable=False),
        sa.Column("clicked", JSONDocument, nullable=False),
        sa.Column("timestamp", UTCDateTime, nullable=False),
        sqlite_autoincrement=True,
    )
