"""Jobs keep their source's edits (trim, anchor, zoom); outputs keep what the trim cut and the window's path.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    op.add_column("jobs", sa.Column("edits", sa.JSON))
    op.add_column("outputs", sa.Column("edits", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("outputs") as batch:
        batch.drop_column("edits")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("edits")
