"""An output can be rendered again alone with overrides (DESIGN 4.12): its versions (files, who asked, the
overrides) and the state of a re-render under way.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.add_column("outputs", sa.Column("versions", sa.JSON))
    op.add_column("outputs", sa.Column("rerender", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("outputs") as batch:
        batch.drop_column("rerender")
        batch.drop_column("versions")
