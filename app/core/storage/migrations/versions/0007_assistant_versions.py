"""Adapters become versions of one assistant (v1, v2, v3 …) and keep how well they rank preferred replies.

Revision ID: 0007_assistant_versions
Revises: 0006_model_load_crash
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_assistant_versions"
down_revision = "0006_model_load_crash"
branch_labels = None
depends_on = None

ADAPTER_COLUMNS = (
    sa.Column("assistant", sa.String(300), nullable=True),  # the assistant this adapter is a version of
    sa.Column("version", sa.Integer(), nullable=True),  # 1, 2, 3 … within that assistant
    sa.Column("pref_pairs", sa.Integer(), nullable=True),  # held-out preference pairs it was measured on
    sa.Column("pref_accuracy_before", sa.Float(), nullable=True),  # share of pairs ranked right by the base
    sa.Column("pref_accuracy_after", sa.Float(), nullable=True),  # … and with the adapter
    sa.Column("pref_margin_before", sa.Float(), nullable=True),  # mean log-prob(preferred) - log-prob(other)
    sa.Column("pref_margin_after", sa.Float(), nullable=True),
)


def upgrade() -> None:
    for column in ADAPTER_COLUMNS:
        op.add_column("adapter", column.copy())
    op.add_column("training_job", sa.Column("assistant", sa.String(300), nullable=True))
    # Adapters trained before versions existed are each the first version of an assistant of their own name.
    op.execute("UPDATE adapter SET assistant = name, version = 1 WHERE assistant IS NULL")


def downgrade() -> None:
    with op.batch_alter_table("adapter") as batch:
        for column in ADAPTER_COLUMNS:
            batch.drop_column(column.name)
    with op.batch_alter_table("training_job") as batch:
        batch.drop_column("assistant")
