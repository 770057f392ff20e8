"""Every app's Alembic revisions apply from nothing on SQLite and PostgreSQL, and a second run is a no-op."""

import importlib
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


@pytest.mark.parametrize("app", APPS)
def test_migrated_tables_match_what_the_code_queries(app, db_engine):
    """The revisions and `<app>.tables.metadata` describe the same schema (Alembic's autogenerate diff is empty)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    folder = Path(importlib.util.find_spec(app).origin).parent / "migrations"
    if not (folder / "versions").is_dir() or importlib.util.find_spec(f"{app}.tables") is None:
        pytest.skip(f"{app} has no migrations and tables module yet")
    metadata = importlib.import_module(f"{app}.tables").metadata
    migrate(db_engine, folder, f"{app}_alembic_version")
    with db_engine.connect() as connection:
        in_metadata = lambda obj, name, kind, *_: kind != "table" or name in metadata.tables  # noqa: E731 - alembic's hook signature
        context = MigrationContext.configure(connection, opts={"compare_type": True, "include_object": in_metadata})
        assert compare_metadata(context, metadata) == []
