"""Captions (DESIGN 4.13): the captions a job asked for, and each output's sidecar WebVTT. The transcript
itself lives on its library item (`sources.transcript`, made by 0008).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    op.add_column("jobs", sa.Column("captions", sa.String(32)))
    op.add_column("outputs", sa.Column("captions_filename", sa.String(255)))


def downgrade() -> None:
    # plain DROP COLUMN (as 0009): a batch rebuild of jobs would delete every output under its cascade
    op.drop_column("outputs", "captions_filename")
    op.drop_column("jobs", "captions")
