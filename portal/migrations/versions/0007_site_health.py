"""Intake that survives the platforms (DESIGN 4.15): a health record per site, the uploaded cookies files
(several, one site each or every site), and a job stage long enough to say why and until when it waits.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "site_health",
        sa.Column("site", sa.String(255), primary_key=True),
        sa.Column("successes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("failures_in_a_row", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_code", sa.String(64)),
        sa.Column("last_reason", sa.Text),
        sa.Column("last_failure_at", sa.DateTime),
        sa.Column("last_success_at", sa.DateTime),
        sa.Column("paused_until", sa.DateTime),
    )
    op.create_table(
        "cookie_files",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("site", sa.String(255), nullable=False, index=True),
        sa.Column("lines", sa.Integer, nullable=False),
        sa.Column("uploaded_at", sa.DateTime, nullable=False),
        sa.Column("signin_asked_at", sa.DateTime),
        sa.Column("worked_at", sa.DateTime),
    )
    _stage_length(sa.String(32), sa.String(200))


def downgrade() -> None:
    _stage_length(sa.String(200), sa.String(32))
    op.drop_table("cookie_files")
    op.drop_table("site_health")


def _stage_length(old: sa.String, new: sa.String) -> None:
    # SQLite does not enforce a length, and rebuilding the jobs table there (batch mode) would drop it
    # under the outputs' ON DELETE CASCADE: only the other databases change the column
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("jobs", "stage", type_=new, existing_type=old)
