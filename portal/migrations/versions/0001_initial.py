"""Jobs, outputs, uploads, the job event log and worker heartbeats.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from portal.database import UTCDateTime

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("stage", sa.String(32)),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("error_code", sa.String(64)),
        sa.Column("source_kind", sa.String(16), nullable=False),
        sa.Column("source_name", sa.Text, nullable=False),
        sa.Column("source_path", sa.Text),
        sa.Column("brands", sa.JSON, nullable=False),
        sa.Column("preset", sa.String(16), nullable=False),
        sa.Column("source_meta", sa.JSON),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_owner", sa.String(128)),
        sa.Column("heartbeat_at", UTCDateTime),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False, index=True),
        sa.Column("started_at", UTCDateTime),
        sa.Column("finished_at", UTCDateTime),
    )
    op.create_table(
        "outputs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "job_id", sa.String(32), sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        sa.Column("brand", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False, unique=True),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("media", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "logs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("time", UTCDateTime, nullable=False, index=True),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("job_id", sa.String(32), index=True),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_table(
        "workers",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("seen_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("workers", "logs", "uploads", "outputs", "jobs"):
        op.drop_table(table)
