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
