"""Outputs keep where the engine put each overlay at position "auto", and why (its scores).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.add_column("outputs", sa.Column("placements", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("outputs") as batch:
        batch.drop_column("placements")
