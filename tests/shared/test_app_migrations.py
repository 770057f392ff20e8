"""Every app's Alembic revisions apply from nothing on SQLite and PostgreSQL, and a second run is a no-op."""

import importlib.util
from pathlib import Path

import pytest
import sqlalchemy as sa

from shared.storage import current_revision, migrate

APPS = ("customer_service", "finance_monitor", "recommender")


@pytest.mark.parametrize("app", APPS)
def test_app_migrations_apply_from_nothing_then_do_nothing(app, db_engine):
    folder = Path(importlib.util.find_spec(app).origin).parent / "migrations"
    if not (folder / "versions").is_dir():
        pytest.skip(f"{app} has no migrations yet")
    version_table = f"{app}_alembic_version"
    applied = migrate(db_engine, folder, version_table)
    assert applied, f"{app} ships migrations/versions but no revision applied"
    assert current_revision(db_engine, version_table) == applied[-1]
    tables = set(sa.inspect(db_engine).get_table_names())
    assert migrate(db_engine, folder, version_table) == []
    assert set(sa.inspect(db_engine).get_table_names()) == tables
