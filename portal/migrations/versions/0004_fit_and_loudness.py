"""Jobs keep their fit (blur or crop); outputs keep the engine's loudness measurement (before/after).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column("jobs", sa.Column("fit", sa.String(8), nullable=False, server_default="blur"))
    op.add_column("outputs", sa.Column("loudness", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("outputs") as batch:
        batch.drop_column("loudness")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("fit")
