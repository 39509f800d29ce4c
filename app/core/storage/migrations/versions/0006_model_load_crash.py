"""A model that killed the engine while loading is marked with when it did, so it is not loaded by itself again.

Revision ID: 0006_model_load_crash
Revises: 0005_ids_never_reused_and_recently_deleted
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_model_load_crash"
down_revision = "0005_ids_never_reused_and_recently_deleted"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("model", sa.Column("load_crashed_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model") as batch:
        batch.drop_column("load_crashed_at")
