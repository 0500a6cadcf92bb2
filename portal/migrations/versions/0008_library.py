"""The library (DESIGN 4.14): sources with their files, covers and fingerprints, the fingerprint index,
each job's and upload's source, a job's warnings and each output's post text.

Jobs made before this have no source: the library starts with the next link or upload.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from portal.database import UTCDateTime

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("link", sa.Text),
        sa.Column("link_key", sa.String(64), index=True),
        sa.Column("filename", sa.String(255)),
        sa.Column("title", sa.Text),
        sa.Column("uploader", sa.Text),
        sa.Column("original_url", sa.Text),
        sa.Column("duration", sa.Float),
        sa.Column("path", sa.Text),
        sa.Column("cover", sa.Text),
        sa.Column("fingerprint", sa.BigInteger),
        sa.Column("edits", sa.JSON),
        sa.Column("transcript", sa.JSON),
        sa.Column("pinned", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", UTCDateTime, nullable=False, index=True),
        sa.Column("used_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "fingerprint_bands",
        sa.Column(
            "source_id", sa.String(32), sa.ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("band", sa.SmallInteger, primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )
    op.create_index("ix_fingerprint_bands_lookup", "fingerprint_bands", ["band", "value"])
    # source_id columns without a foreign key (portal.database.Job.source_id says why)
    op.add_column("jobs", sa.Column("source_id", sa.String(32)))
    op.create_index("ix_jobs_source_id", "jobs", ["source_id"])
    op.add_column("jobs", sa.Column("warnings", sa.JSON))
    op.add_column("uploads", sa.Column("source_id", sa.String(32)))
    op.add_column("outputs", sa.Column("post_text", sa.Text))


def downgrade() -> None:
    op.drop_column("outputs", "post_text")
    op.drop_column("uploads", "source_id")
    op.drop_index("ix_jobs_source_id", "jobs")
    op.drop_column("jobs", "warnings")
    op.drop_column("jobs", "source_id")
    op.drop_table("fingerprint_bands")
    op.drop_table("sources")
