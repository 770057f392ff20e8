"""Alerts: who acknowledged an alert and when, and until when its notifications are silenced (the dashboard's actions)."""

revision = "0002"
down_revision = "0001"

import sqlalchemy as sa
from alembic import op

from shared.storage import UTCDateTime


def upgrade():
    # Nullable columns only: SQLite adds them in place, existing alerts read as not acknowledged, not silenced.
    op.add_column("fm_alerts", sa.Column("acknowledged_at", UTCDateTime))
    op.add_column("fm_alerts", sa.Column("acknowledged_by", sa.String(100)))
    op.add_column("fm_alerts", sa.Column("silenced_until", UTCDateTime))
    op.add_column("fm_alerts", sa.Column("silenced_by", sa.String(100)))
