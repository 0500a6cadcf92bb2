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
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("source_id", sa.String(32)))
        jobs.add_column(sa.Column("warnings", sa.JSON))
        jobs.create_foreign_key("fk_jobs_source_id", "sources", ["source_id"], ["id"], ondelete="SET NULL")
        jobs.create_index("ix_jobs_source_id", ["source_id"])
    with op.batch_alter_table("uploads") as uploads:
        uploads.add_column(sa.Column("source_id", sa.String(32)))
        uploads.create_foreign_key(
            "fk_uploads_source_id", "sources", ["source_id"], ["id"], ondelete="SET NULL"
        )
    with op.batch_alter_table("outputs") as outputs:
        outputs.add_column(sa.Column("post_text", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("outputs") as outputs:
        outputs.drop_column("post_text")
    with op.batch_alter_table("uploads") as uploads:
        uploads.drop_constraint("fk_uploads_source_id", type_="foreignkey")
        uploads.drop_column("source_id")
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_index("ix_jobs_source_id")
        jobs.drop_constraint("fk_jobs_source_id", type_="foreignkey")
        jobs.drop_column("warnings")
        jobs.drop_column("source_id")
    op.drop_table("fingerprint_bands")
    op.drop_table("sources")
