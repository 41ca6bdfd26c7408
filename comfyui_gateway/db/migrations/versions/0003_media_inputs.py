"""Media inputs: content-addressed input files, uploads, and which job used which file.

Revision ID: 0003_media_inputs
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_media_inputs"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def _file_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["sha256"], ["input_files.sha256"], name=f"fk_{table}_sha256_input_files"
    )


def upgrade() -> None:
    op.create_table(
        "input_files",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(127), nullable=False),
        sa.Column("extension", sa.String(16), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("storage_path", sa.Text(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("sha256", name="pk_input_files"),
    )
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        _ts("created_at"),
        _file_fk("uploads"),
        sa.PrimaryKeyConstraint("id", name="pk_uploads"),
    )
    op.create_index("ix_uploads_sha256", "uploads", ["sha256"])
    op.create_table(
        "job_inputs",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("field", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("comfy_name", sa.String(255), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_job_inputs_job_id_jobs", ondelete="CASCADE"
        ),
        _file_fk("job_inputs"),
        sa.PrimaryKeyConstraint("id", name="pk_job_inputs"),
        sa.UniqueConstraint("job_id", "field", name="uq_job_inputs_job_id_field"),
    )
    op.create_index("ix_job_inputs_sha256", "job_inputs", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_job_inputs_sha256", table_name="job_inputs")
    op.drop_table("job_inputs")
    op.drop_index("ix_uploads_sha256", table_name="uploads")
    op.drop_table("uploads")
    op.drop_table("input_files")
