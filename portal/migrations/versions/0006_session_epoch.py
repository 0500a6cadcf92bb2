"""The dashboard's session epoch moves from a file in one web's data folder to the database, shared by every
web replica. No value is carried over: the first request draws a new one, so sessions signed in before the
upgrade end once.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "session_epoch",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("value", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("session_epoch")
