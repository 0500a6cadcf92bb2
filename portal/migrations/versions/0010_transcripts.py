"""Captions (DESIGN 4.13): a clip's transcript, stored once per job's source and edited in place; the
captions a job asked for; each output's sidecar WebVTT.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from portal.database import UTCDateTime

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    op.create_table(
        "transcripts",
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("cues", sa.JSON, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.add_column("jobs", sa.Column("captions", sa.String(32)))
    op.add_column("outputs", sa.Column("captions_filename", sa.String(255)))


def downgrade() -> None:
    # plain DROP COLUMN (as 0009): a batch rebuild of jobs would delete every output under its cascade
    op.drop_column("outputs", "captions_filename")
    op.drop_column("jobs", "captions")
    op.drop_table("transcripts")
