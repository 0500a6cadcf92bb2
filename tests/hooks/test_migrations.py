"""The migrations build exactly the tables the models describe (webhook deliveries included)."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from portal.config import load_settings
from portal.database import Base, Database


def test_migrated_schema_matches_the_models(tmp_path: Path) -> None:
    database = Database(load_settings(data_dir=tmp_path))
    database.upgrade()
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
