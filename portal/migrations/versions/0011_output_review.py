"""Each output has a review state (DESIGN 4.12): pending, approved or rejected, and when it was set.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.add_column("outputs", sa.Column("review", sa.String(16), nullable=False, server_default="pending"))
    op.add_column("outputs", sa.Column("reviewed_at", sa.DateTime))


def downgrade() -> None:
    with op.batch_alter_table("outputs") as batch:
        batch.drop_column("reviewed_at")
        batch.drop_column("review")
