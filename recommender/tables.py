"""The recommender's tables (SQLAlchemy Core), shaped like gorse's data model.

Items and users are keyed by the caller's string ids; feedback by (type, user, item) as in
gorse, so sending the same feedback twice keeps one row (the newest value and time).
"""

import sqlalchemy as sa

from shared.storage import JSONDocument, UTCDateTime

metadata = sa.MetaData()

items = sa.Table(
    "rec_items",
    metadata,
    sa.Column("id", sa.String(256), primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),  # what the model reads besides the title (gorse: Comment)
    sa.Column("categories", JSONDocument, nullable=False),
    sa.Column("labels", JSONDocument, nullable=False),
    sa.Column("hidden", sa.Boolean, nullable=False),
    sa.Column("timestamp", UTCDateTime),  # when the item was published; recency is measured from it
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

users = sa.Table(
    "rec_users",
    metadata,
    sa.Column("id", sa.String(256), primary_key=True),
    sa.Column("labels", JSONDocument, nullable=False),
    sa.Column("comment", sa.Text, nullable=False),  # a free-text profile: recommendations before any click
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

feedback = sa.Table(
    "rec_feedback",
    metadata,
    sa.Column("type", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(256), primary_key=True),
    sa.Column("item_id", sa.String(256), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("timestamp", UTCDateTime, nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Index("ix_rec_feedback_item", "item_id"),
    sa.Index("ix_rec_feedback_user_time", "user_id", "timestamp"),
)

# What a user was shown and which of it they clicked: the negatives a click model learns from.
impressions = sa.Table(
    "rec_impressions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.String(256), nullable=False, index=True),
    sa.Column("shown", JSONDocument, nullable=False),
    sa.Column("clicked", JSONDocument, nullable=False),
    sa.Column("timestamp", UTCDateTime, nullable=False),
    sqlite_autoincrement=True,
)
