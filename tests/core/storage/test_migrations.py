import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from app.core.storage import migrate
from app.core.storage.db import Database
from app.core.storage.models import Base


def test_empty_database_upgrades_to_head_with_the_orm_schema(tmp_path):
    db = Database(tmp_path / "fresh.sqlite3")
    assert migrate.current_revision(db.engine) is None
    assert migrate.upgrade_to_head(db.engine) is True
    assert migrate.current_revision(db.engine) == migrate.HEAD_REVISION
    tables = set(inspect(db.engine).get_table_names())
    assert {"model", "conversation", "message", "feedback", "message_fts"} <= tables
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # FTS shadow tables are not in the ORM; everything the ORM declares must match the migrated schema exactly.
    diffs = [d for d in diffs if not (d[0] == "remove_table" and d[1].name.startswith("message_fts"))]
    assert diffs == []


def test_head_constant_matches_alembic(tmp_path):
    db = Database(tmp_path / "x.sqlite3")
    script = ScriptDirectory.from_config(migrate.alembic_config(db.engine))
    assert script.get_current_head() == migrate.HEAD_REVISION


def test_second_open_is_a_no_op(tmp_path):
    path = tmp_path / "h.sqlite3"
    Database.open(path).close()
    db = Database(path)
    assert migrate.upgrade_to_head(db.engine) is False


def test_wal_and_foreign_keys_are_on(tmp_path):
    db = Database.open(tmp_path / "h.sqlite3")
    assert db.journal_mode() == "wal"
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_upgrading_a_0001_database_keeps_its_rows(tmp_path):
    from alembic import command

    db = Database(tmp_path / "old.sqlite3")
    command.upgrade(migrate.alembic_config(db.engine), "0001_initial")
    with db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO model (name, path, format, source, size_bytes, info, measured_memory, is_default, added_at) "
            "VALUES ('old', '/m.gguf', 'gguf', 'local', 1, '{}', '{}', 1, '2026-01-01')"
        ))
    assert migrate.upgrade_to_head(db.engine) is True
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT name, benchmark, hub_file FROM model")).one()
        assert tuple(row) == ("old", "{}", None)
        assert conn.execute(text("SELECT count(*) FROM download")).scalar() == 0


def _add_download(conn, download_id: int, dest: str, status: str, bytes_done: int = 0) -> None:
    conn.execute(
        text(
            "INSERT INTO download (id, repo_id, revision, filename, dest_path, total_bytes, bytes_done, status, "
            "created_at, updated_at) VALUES (:id, 'o/r', 'abc', 'f.gguf', :dest, 100, :done, :status, "
            "'2026-01-01', '2026-01-01')"
        ),
        {"id": download_id, "dest": dest, "done": bytes_done, "status": status},
    )


def test_upgrading_a_0003_database_keeps_its_downloads_and_merges_duplicates(tmp_path):
    from alembic import command
    from sqlalchemy.exc import IntegrityError

    db = Database(tmp_path / "old.sqlite3")
    command.upgrade(migrate.alembic_config(db.engine), "0003_training")
    with db.engine.begin() as conn:
        _add_download(conn, 1, "/m/a.gguf", "queued", 10)  # a double click planned a.gguf twice ...
        _add_download(conn, 2, "/m/a.gguf", "downloading", 40)  # ... and this copy got further
        _add_download(conn, 3, "/m/a.gguf", "done", 100)  # finished before: history, kept as it is
        _add_download(conn, 4, "/m/a.gguf", "cancelled")
        _add_download(conn, 5, "/m/b.gguf", "paused", 5)
    assert migrate.upgrade_to_head(db.engine) is True
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, status, bytes_done, error FROM download ORDER BY id")).all()
    assert [tuple(r[:3]) for r in rows] == [
        (1, "cancelled", 0), (2, "downloading", 40), (3, "done", 100), (4, "cancelled", 0), (5, "paused", 5)
    ]
    assert "duplicate" in rows[0].error and rows[1].error is None
    # From now on the database itself refuses a second unfinished download of one file; finished ones may repeat.
    with pytest.raises(IntegrityError), db.engine.begin() as conn:
        _add_download(conn, 6, "/m/b.gguf", "queued")
    with db.engine.begin() as conn:
        _add_download(conn, 7, "/m/a.gguf", "done", 100)
        _add_download(conn, 8, "/m/b.gguf", "cancelled")
