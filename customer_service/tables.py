"""The support bot's tables (SQLAlchemy Core). Migrations create them; this is what code queries.

Every user-sent thing is a row: chat turns, handoffs and their webhook deliveries, feedback.
"""

import sqlalchemy as sa

from shared.storage import JSONDocument, UTCDateTime

metadata = sa.MetaData()

# One row per chat session; `status` says whether a person has taken over.
sessions = sa.Table(
    "cs_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # bot | handoff | closed
    sa.Column("meta", JSONDocument, nullable=False),
)

# Every message of a session, in order: the visitor's, the bot's and a human agent's.
# `client_id` lets the widget resend a message after a network error without storing it twice.
turns = sa.Table(
    "cs_turns",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("session_id", sa.String(64), sa.ForeignKey("cs_sessions.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("role", sa.String(16), nullable=False),  # user | bot | agent
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("client_id", sa.String(64)),
    sa.Column("path", sa.String(16)),  # bot turns: intent | clarify | retrieval | handoff
    sa.Column("intent", sa.String(128)),
    sa.Column("confidence", sa.Float),
    sa.Column("details", JSONDocument, nullable=False),  # sources, choices, scores: what the reply rests on
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("session_id", "client_id", name="uq_cs_turns_client_id"),
    sqlite_autoincrement=True,
)

handoffs = sa.Table(
    "cs_handoffs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("session_id", sa.String(64), sa.ForeignKey("cs_sessions.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),  # open | claimed | resolved
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("agent", sa.String(128)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("claimed_at", UTCDateTime),
    sa.Column("resolved_at", UTCDateTime),
    sqlite_autoincrement=True,
)

# Each attempt to notify people of a handoff, kept whether it worked or not.
deliveries = sa.Table(
    "cs_deliveries",
    metadata,
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

# Visitors' helpful / not helpful votes and admins' corrections, for retraining.
feedback = sa.Table(
    "cs_feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("turn_id", sa.Integer, sa.ForeignKey("cs_turns.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("source", sa.String(16), nullable=False),  # visitor | admin
    sa.Column("helpful", sa.Boolean),
    sa.Column("correct_intent", sa.String(128)),
    sa.Column("comment", sa.Text),
    sa.Column("used_in_training", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sqlite_autoincrement=True,
)
