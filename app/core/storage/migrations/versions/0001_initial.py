"""Initial schema: models, conversations, messages (a tree of siblings), feedback, and full-text search.

Revision ID: 0001_initial
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("path", sa.Text, nullable=False, unique=True),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("repo_id", sa.String(300)),
        sa.Column("revision", sa.String(64)),
        sa.Column("sha256", sa.String(64)),
        sa.Column("size_bytes", sa.Integer, nullable=False),
        sa.Column("info", sa.JSON, nullable=False),
        sa.Column("measured_memory", sa.JSON, nullable=False),
        sa.Column("is_default", sa.Boolean, nullable=False),
        sa.Column("added_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "conversation",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("system_prompt", sa.Text, nullable=False),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("model.id", ondelete="SET NULL")),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("active_leaf_id", sa.Integer),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_conversation_updated_at", "conversation", ["updated_at"])
    op.create_table(
        "message",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "conversation_id", sa.Integer, sa.ForeignKey("conversation.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("message.id", ondelete="CASCADE")),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("finish_reason", sa.String(32)),
        sa.Column("error", sa.Text),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("model.id", ondelete="SET NULL")),
        sa.Column("model_name", sa.String(200)),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("prompt_tokens", sa.Integer),
        sa.Column("completion_tokens", sa.Integer),
        sa.Column("ttft_ms", sa.Float),
        sa.Column("tokens_per_s", sa.Float),
        sa.Column("owner_pid", sa.Integer),
        sa.Column("owner_started", sa.Float),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.CheckConstraint("role IN ('system', 'user', 'assistant')", name="ck_message_role"),
        sa.CheckConstraint(
            "status IN ('complete', 'streaming', 'interrupted', 'error')", name="ck_message_status"
        ),
    )
    op.create_index("ix_message_parent", "message", ["conversation_id", "parent_id"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "message_id",
            sa.Integer,
            sa.ForeignKey("message.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("rating", sa.Integer, nullable=False),
        sa.Column("correction", sa.Text),
        sa.Column("note", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.CheckConstraint("rating IN (-1, 0, 1)", name="ck_feedback_rating"),
    )
    # Full-text index over message text, kept in step by triggers (external-content FTS5 table).
    op.execute(
        "CREATE VIRTUAL TABLE message_fts USING fts5("
        "content, content='message', content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER message_fts_insert AFTER INSERT ON message BEGIN "
        "INSERT INTO message_fts(rowid, content) VALUES (new.id, new.content); END"
    )
    op.execute(
        "CREATE TRIGGER message_fts_delete AFTER DELETE ON message BEGIN "
        "INSERT INTO message_fts(message_fts, rowid, content) VALUES ('delete', old.id, old.content); END"
    )
    op.execute(
        "CREATE TRIGGER message_fts_update AFTER UPDATE OF content ON message BEGIN "
        "INSERT INTO message_fts(message_fts, rowid, content) VALUES ('delete', old.id, old.content); "
        "INSERT INTO message_fts(rowid, content) VALUES (new.id, new.content); END"
    )


def downgrade() -> None:
    for trigger in ("message_fts_update", "message_fts_delete", "message_fts_insert"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS message_fts")
    op.drop_table("feedback")
    op.drop_index("ix_message_parent", "message")
    op.drop_table("message")
    op.drop_index("ix_conversation_updated_at", "conversation")
    op.drop_table("conversation")
    op.drop_table("model")
