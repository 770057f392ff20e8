"""Sessions, turns, handoffs, webhook deliveries and feedback.

Written out rather than imported from customer_service.tables: a revision is history and
must not change when the tables module does.
"""

revision = "0001"
down_revision = None

import sqlalchemy as sa
from alembic import op

from shared.storage import JSONDocument, UTCDateTime


def upgrade():
    op.create_table(
        "cs_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("meta", JSONDocument, nullable=False),
    )
    op.create_table(
        "cs_turns",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("session_id", sa.String(64), sa.ForeignKey("cs_sessions.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("client_id", sa.String(64)),
        sa.Column("path", sa.String(16)),
        sa.Column("intent", sa.String(128)),
        sa.Column("confidence", sa.Float),
        sa.Column("details", JSONDocument, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("session_id", "client_id", name="uq_cs_turns_client_id"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "cs_handoffs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("session_id", sa.String(64), sa.ForeignKey("cs_sessions.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("agent", sa.String(128)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("claimed_at", UTCDateTime),
        sa.Column("resolved_at", UTCDateTime),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "cs_deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("handoff_id", sa.Integer, sa.ForeignKey("cs_handoffs.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "cs_feedback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("turn_id", sa.Integer, sa.ForeignKey("cs_turns.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("helpful", sa.Boolean),
        sa.Column("correct_intent", sa.String(128)),
        sa.Column("comment", sa.Text),
        sa.Column("used_in_training", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sqlite_autoincrement=True,
    )
