"""A re-render of one output is held by a lease like a job's run (DESIGN 5): the run's token, its
heartbeat and its attempts, so a re-render whose worker died goes back on the queue.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    op.add_column("outputs", sa.Column("rerender_lease", sa.String(128)))
    op.add_column("outputs", sa.Column("rerender_heartbeat_at", sa.DateTime))
    op.add_column("outputs", sa.Column("rerender_attempts", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("outputs") as batch:
        batch.drop_column("rerender_attempts")
        batch.drop_column("rerender_heartbeat_at")
        batch.drop_column("rerender_lease")
