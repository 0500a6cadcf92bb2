"""A job may render several formats (a list of presets, each with its fit); each output names its format;
jobs submitted together (several sources) share a batch id (DESIGN 4.10).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.add_column("jobs", sa.Column("formats", sa.JSON))
    op.add_column("jobs", sa.Column("batch_id", sa.String(32)))
    op.create_index("ix_jobs_batch_id", "jobs", ["batch_id"])
    op.add_column("outputs", sa.Column("preset", sa.String(16)))


def downgrade() -> None:
    # plain DROP COLUMN (SQLite 3.35+ too): rebuilding the jobs table in batch mode would delete every
    # output under its ON DELETE CASCADE
    op.drop_column("outputs", "preset")
    op.drop_index("ix_jobs_batch_id", "jobs")
    op.drop_column("jobs", "batch_id")
    op.drop_column("jobs", "formats")
