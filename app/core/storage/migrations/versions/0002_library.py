"""Model library: downloads, the backend each reply ran on, user-added folders, per-model benchmark figures and the hub file a model came from.

Revision ID: 0002_library
Revises: 0001_initial
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_library"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model") as batch:
        batch.add_column(sa.Column("benchmark", sa.JSON, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("hub_file", sa.Text))
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("backend", sa.String(32)))
    op.create_table(
        "download",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("repo_id", sa.String(300), nullable=False),
        sa.Column("revision", sa.String(64), nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("dest_path", sa.Text, nullable=False),
        sa.Column("total_bytes", sa.Integer, nullable=False),
        sa.Column("bytes_done", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("model.id", ondelete="SET NULL")),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'downloading', 'paused', 'verifying', 'done', 'failed', 'cancelled')",
            name="ck_download_status",
        ),
    )
    op.create_table(
        "library_folder",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.Text, nullable=False, unique=True),
        sa.Column("added_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("library_folder")
    op.drop_table("download")
    with op.batch_alter_table("message") as batch:
        batch.drop_column("backend")
    with op.batch_alter_table("model") as batch:
        batch.drop_column("hub_file")
        batch.drop_column("benchmark")
