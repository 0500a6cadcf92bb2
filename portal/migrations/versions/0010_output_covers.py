"""Every output has a JPEG cover named like it (DESIGN 4.11), and the time it was taken at.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.add_column("outputs", sa.Column("cover_filename", sa.String(255)))
    op.add_column("outputs", sa.Column("cover_at", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("outputs") as batch:
        batch.drop_column("cover_at")
        batch.drop_column("cover_filename")
