"""Ids are never handed out twice, and deleted conversations wait in Recently deleted.

SQLite without AUTOINCREMENT gives a new row the largest id + 1, so deleting the newest conversation and starting
another reused its id: `hearth chat --conversation 1`, an export or the training preview's "conversation 1,
message 3" could name different data over time. The tables whose ids leave the database (conversation, message,
model, training_job, adapter) are rebuilt with AUTOINCREMENT, keeping every row, id, index and trigger; the
full-text index over messages stays as it is (same rowids, same content table name) and its triggers are put back.
Ids deleted before this migration and above the highest one left cannot be known, so they may come back once.

`conversation.deleted_at` marks a conversation deleted without removing it (see storage.conversations).

Revision ID: 0005_ids_never_reused_and_recently_deleted
Revises: 0004_one_download_per_file
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0005_ids_never_reused_and_recently_deleted"
down_revision = "0004_one_download_per_file"
branch_labels = None
depends_on = None

# Spelled out rather than taken from the models: a migration must keep meaning what it meant when it was written.
REBUILT = ("model", "conversation", "message", "training_job", "adapter")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        # Dropping the original table would cascade to every row that points at it (env.py turns them off).
        raise RuntimeError("this migration must run with foreign keys off")
    dangling_before = set(bind.exec_driver_sql("PRAGMA foreign_key_check").all())
    for table in REBUILT:
        _rebuild_with_autoincrement(bind, table)
    # Only what the rebuild itself broke stops it; an old dangling reference must not keep Hearth from starting.
    broken = set(bind.exec_driver_sql("PRAGMA foreign_key_check").all()) - dangling_before
    if broken:
        raise RuntimeError(f"rebuilding the tables broke {len(broken)} reference(s), e.g. {next(iter(broken))}")
    op.add_column("conversation", sa.Column("deleted_at", sa.DateTime))


def _rebuild_with_autoincrement(bind, table: str) -> None:
    """Create a copy whose key is AUTOINCREMENT, copy the rows with their ids, drop the original, rename the copy,
    and put back the table's own indexes and triggers (dropping a table drops them)."""
    create = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).scalar()
    extras = [
        sql for (sql,) in bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND tbl_name = ? AND sql IS NOT NULL",
            (table,),
        )
    ]
    columns = ", ".join(f'"{row[1]}"' for row in bind.exec_driver_sql(f'PRAGMA table_info("{table}")'))
    copy = f"{table}_rebuilt"
    bind.exec_driver_sql(_autoincrement_sql(create, table, copy))
    bind.exec_driver_sql(f'INSERT INTO "{copy}" ({columns}) SELECT {columns} FROM "{table}"')
    bind.exec_driver_sql(f'DROP TABLE "{table}"')
    bind.exec_driver_sql(f'ALTER TABLE "{copy}" RENAME TO "{table}"')
    for sql in extras:
        bind.exec_driver_sql(sql)


def _autoincrement_sql(create: str, table: str, copy: str) -> str:
    """The table's own CREATE statement, renamed to `copy`, with `id` as an AUTOINCREMENT column key. Migrations
    0001-0003 created these tables as `id INTEGER NOT NULL, ..., PRIMARY KEY (id)` (SQLAlchemy's form); anything
    else is refused rather than guessed at."""
    sql, renamed = re.subn(rf'^CREATE TABLE "?{table}"?\s*\(', f'CREATE TABLE "{copy}" (', create.strip())
    key = "(\n\tid INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,"
    sql, keyed = re.subn(r"\(\s*id INTEGER NOT NULL,", key, sql, count=1)
    sql, unkeyed = re.subn(r",\s*PRIMARY KEY \(id\)", "", sql)
    if (renamed, keyed, unkeyed) != (1, 1, 1):
        raise RuntimeError(f"table {table} does not have the shape this migration expects:\n{create}")
    return sql


def downgrade() -> None:
    # The old schema has no Recently deleted: what waits there goes for good (foreign keys are off, so by hand).
    deleted = "SELECT id FROM conversation WHERE deleted_at IS NOT NULL"
    their_messages = f"SELECT id FROM message WHERE conversation_id IN ({deleted})"
    op.execute(f"DELETE FROM feedback WHERE message_id IN ({their_messages})")
    op.execute(f"DELETE FROM message WHERE conversation_id IN ({deleted})")
    op.execute("DELETE FROM conversation WHERE deleted_at IS NOT NULL")
    op.drop_column("conversation", "deleted_at")  # SQLite 3.35+ drops a column in place
    # AUTOINCREMENT stays: the older code does not notice it, and ids stay unique.
