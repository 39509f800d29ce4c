"""Training: jobs, their metrics, the adapters they produce, and which adapter wrote each reply.

Revision ID: 0003_training
Revises: 0002_library
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_training"
down_revision = "0002_library"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_job",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("base_model_id", sa.Integer, sa.ForeignKey("model.id", ondelete="SET NULL")),
        sa.Column("base_name", sa.String(300), nullable=False),
        sa.Column("base_path", sa.Text, nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("dataset", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_dir", sa.Text, nullable=False),
        sa.Column("pid", sa.Integer),
        sa.Column("pid_started", sa.Float),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("total_steps", sa.Integer, nullable=False),
        sa.Column("eval_loss_before", sa.Float),
        sa.Column("eval_loss_after", sa.Float),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("started_at", sa.DateTime),
        sa.Column("finished_at", sa.DateTime),
        sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed', 'cancelled')", name="ck_job_status"),
    )
    op.create_table(
        "training_metric",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("training_job.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("loss", sa.Float),
        sa.Column("lr", sa.Float),
        sa.Column("tokens_per_s", sa.Float),
        sa.Column("mem_mb", sa.Float),
    )
    op.create_index("ix_metric_job_step", "training_metric", ["job_id", "step"])
    op.create_table(
        "adapter",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(300), nullable=False, unique=True),
        sa.Column("job_id", sa.Integer, sa.ForeignKey("training_job.id", ondelete="SET NULL")),
        sa.Column("base_model_id", sa.Integer, sa.ForeignKey("model.id", ondelete="SET NULL")),
        sa.Column("base_name", sa.String(300), nullable=False),
        sa.Column("peft_dir", sa.Text, nullable=False),
        sa.Column("gguf_path", sa.Text),
        sa.Column("eval_loss_before", sa.Float),
        sa.Column("eval_loss_after", sa.Float),
        sa.Column("wins", sa.Integer, nullable=False),
        sa.Column("losses", sa.Integer, nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    # No foreign key on message.adapter_id: SQLite can only add one by rebuilding `message`, which would drop the
    # full-text triggers that keep the search index in step. Removing an adapter clears the column instead.
    op.add_column("message", sa.Column("adapter_id", sa.Integer))
    op.add_column("message", sa.Column("adapter_name", sa.String(300)))


def downgrade() -> None:
    op.drop_column("message", "adapter_name")
    op.drop_column("message", "adapter_id")  # SQLite 3.35+ drops a column in place
    op.drop_table("adapter")
    op.drop_index("ix_metric_job_step", "training_metric")
    op.drop_table("training_metric")
    op.drop_table("training_job")
