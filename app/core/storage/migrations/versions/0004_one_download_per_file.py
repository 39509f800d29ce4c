"""Downloads: at most one unfinished download per destination file, kept by a partial unique index. Duplicates
that a double click left behind are merged first; finished and cancelled rows stay as they are and may repeat.

Revision ID: 0004_one_download_per_file
Revises: 0003_training
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_one_download_per_file"
down_revision = "0003_training"
branch_labels = None
depends_on = None

# Spelled out rather than imported: a migration must keep meaning what it meant when it was written.
UNFINISHED = "('queued', 'downloading', 'verifying', 'paused', 'failed')"


def upgrade() -> None:
    # Duplicates share one .part file, so the one furthest along speaks for it; the others become cancelled
    # rather than vanish, so their history stays and "Clear finished" can remove them.
    op.execute(
        f"""
        UPDATE download
        SET status = 'cancelled', bytes_done = 0,
            error = 'A duplicate of another download of the same file; merged when Hearth was updated.'
        WHERE status IN {UNFINISHED} AND id NOT IN (
            SELECT id FROM (
                SELECT id, ROW_NUMBER() OVER (PARTITION BY dest_path ORDER BY bytes_done DESC, id) AS place
                FROM download WHERE status IN {UNFINISHED}
            ) WHERE place = 1
        )
        """
    )
    op.create_index(
        "ux_download_unfinished_dest",
        "download",
        ["dest_path"],
        unique=True,
        sqlite_where=sa.text(f"status IN {UNFINISHED}"),
    )


def downgrade() -> None:
    op.drop_index("ux_download_unfinished_dest", "download")
