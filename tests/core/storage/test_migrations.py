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


REBUILT_TABLES = ("model", "conversation", "message", "training_job", "adapter")


def _table_sql(conn, table: str) -> str:
    return conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": table}).scalar()


def _fill_0004_database(conn) -> None:
    """What a user had before ids were kept: a model, two conversations (one branched, rated, corrected), a job and
    its adapter, with gaps in the ids where rows were deleted."""
    stamp = "'2026-01-01'"
    conn.execute(text(
        "INSERT INTO model (id, name, path, format, source, size_bytes, info, measured_memory, is_default, added_at) "
        f"VALUES (3, 'tiny', '/m/tiny.gguf', 'gguf', 'local', 1, '{{}}', '{{}}', 1, {stamp})"
    ))
    for cid, title in ((2, "Tides"), (5, "Walruses")):
        conn.execute(text(
            "INSERT INTO conversation (id, title, system_prompt, model_id, params, active_leaf_id, created_at, "
            f"updated_at) VALUES ({cid}, '{title}', '', 3, '{{}}', NULL, {stamp}, {stamp})"
        ))
    for mid, cid, parent, role, content in (
        (10, 2, None, "user", "Why are there tides?"),
        (11, 2, 10, "assistant", "The moon pulls the oceans."),
        (12, 2, 10, "assistant", "Gravity of the moon and sun."),  # a regeneration: a sibling of 11
        (20, 5, None, "user", "Walrus facts?"),
        (21, 5, 20, "assistant", "Walruses climb with their tusks."),
    ):
        conn.execute(
            text(
                "INSERT INTO message (id, conversation_id, parent_id, role, content, status, model_id, params, "
                f"created_at, updated_at) VALUES (:id, :cid, :parent, :role, :content, 'complete', 3, '{{}}', "
                f"{stamp}, {stamp})"
            ),
            {"id": mid, "cid": cid, "parent": parent, "role": role, "content": content},
        )
    conn.execute(text(
        f"INSERT INTO feedback (message_id, rating, correction, created_at, updated_at) VALUES (11, -1, 'Tides come "
        f"from the moon.', {stamp}, {stamp}), (21, 1, NULL, {stamp}, {stamp})"
    ))
    conn.execute(text(
        "INSERT INTO training_job (id, name, base_model_id, base_name, base_path, method, options, dataset, status, "
        f"run_dir, step, total_steps, created_at) VALUES (4, 'job', 3, 'tiny', '/m/tiny.gguf', 'lora', '{{}}', '{{}}', "
        f"'done', '/runs/0004-tiny', 10, 10, {stamp})"
    ))
    conn.execute(text(
        "INSERT INTO adapter (id, name, job_id, base_model_id, base_name, peft_dir, wins, losses, notes, created_at) "
        f"VALUES (6, 'tides-lora', 4, 3, 'tiny', '/runs/0004-tiny/adapter', 0, 0, '', {stamp})"
    ))


def _migrated_from_0004(tmp_path) -> Database:
    from alembic import command

    db = Database(tmp_path / "old.sqlite3")
    command.upgrade(migrate.alembic_config(db.engine), "0004_one_download_per_file")
    with db.engine.begin() as conn:
        _fill_0004_database(conn)
    assert migrate.upgrade_to_head(db.engine) is True
    return db


def test_upgrading_a_0004_database_keeps_rows_search_and_foreign_keys(tmp_path):
    from app.core.storage import conversations as convs
    from app.core.storage import recently_deleted

    db = _migrated_from_0004(tmp_path)
    with db.engine.connect() as conn:
        for table in REBUILT_TABLES:
            assert "AUTOINCREMENT" in _table_sql(conn, table), table
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1  # back on for the app after the run
        assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
        rows = conn.execute(text("SELECT id, conversation_id, parent_id, content FROM message ORDER BY id")).all()
        assert [tuple(r[:3]) for r in rows] == [(10, 2, None), (11, 2, 10), (12, 2, 10), (20, 5, None), (21, 5, 20)]
        assert conn.execute(text("SELECT id, model_id, deleted_at FROM conversation ORDER BY id")).all() == [
            (2, 3, None), (5, 3, None)
        ]
        assert conn.execute(text("SELECT message_id, rating, correction FROM feedback ORDER BY message_id")).all() == [
            (11, -1, "Tides come from the moon."), (21, 1, None)
        ]
        assert conn.execute(text("SELECT id, job_id, base_model_id FROM adapter")).all() == [(6, 4, 3)]
        assert conn.execute(text("SELECT id, base_model_id, run_dir FROM training_job")).all() == [
            (4, 3, "/runs/0004-tiny")
        ]
        conn.execute(text("INSERT INTO message_fts(message_fts) VALUES ('integrity-check')"))
        indexes = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'"))}
        assert {"ix_conversation_updated_at", "ix_message_parent"} <= indexes
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if not (d[0] == "remove_table" and d[1].name.startswith("message_fts"))] == []

    with db.session() as s:
        # search finds the old rows, and the rebuilt table's triggers keep it in step with new and changed text
        assert [c.id for c in convs.search_conversations(s, "tusks")] == [5]
        new = convs.add_message(s, 2, role="user", content="And what about neap tides?", parent_id=12).id
    with db.session() as s:
        assert [c.id for c in convs.search_conversations(s, "neap")] == [2]
        assert [m.id for m in convs.thread(s, 2)] == [10, 12, new]
        convs.delete_conversation(s, 5)
        recently_deleted.delete_for_good(s, 5)
    with db.engine.connect() as conn:  # foreign keys still cascade: messages and feedback went with it
        assert conn.execute(text("SELECT count(*) FROM message WHERE conversation_id = 5")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM feedback WHERE message_id = 21")).scalar() == 0
        conn.execute(text("DELETE FROM model WHERE id = 3"))  # ... and SET NULL still sets null
        assert conn.execute(text("SELECT model_id FROM conversation WHERE id = 2")).scalar() is None
        conn.commit()
    with db.session() as s:
        assert convs.search_conversations(s, "tusks") == []


def test_after_the_upgrade_a_deleted_newest_conversation_never_gives_its_id_again(tmp_path):
    from app.core.storage import conversations as convs
    from app.core.storage import recently_deleted

    db = _migrated_from_0004(tmp_path)
    with db.session() as s:
        convs.delete_conversation(s, 5)
        recently_deleted.delete_for_good(s, 5)  # the newest conversation, with the newest messages
    with db.session() as s:
        again = convs.create_conversation(s).id
        message = convs.add_message(s, again, role="user", content="hi").id
    assert again == 6 and message == 22  # before the upgrade SQLite would have handed out 2 + 1 = 3 and 12 + 1 = 13


def test_fresh_and_orm_created_tables_never_reuse_ids(tmp_path):
    from sqlalchemy import create_engine

    db = Database.open(tmp_path / "fresh.sqlite3")
    orm = create_engine(f"sqlite:///{tmp_path / 'orm.sqlite3'}")
    Base.metadata.create_all(orm)
    for engine in (db.engine, orm):
        with engine.connect() as conn:
            for table in REBUILT_TABLES:
                assert "AUTOINCREMENT" in _table_sql(conn, table), (engine.url, table)


def test_a_failed_upgrade_leaves_the_database_as_it_was(tmp_path):
    from alembic import command

    db = Database(tmp_path / "old.sqlite3")
    command.upgrade(migrate.alembic_config(db.engine), "0004_one_download_per_file")
    with db.engine.begin() as conn:
        _fill_0004_database(conn)
        # The last table's rebuild cannot create its copy, after the first tables were already rebuilt.
        conn.execute(text("CREATE TABLE adapter_rebuilt (x INTEGER)"))
    with pytest.raises(Exception, match="adapter_rebuilt"):
        migrate.upgrade_to_head(db.engine)
    assert migrate.current_revision(db.engine) == "0004_one_download_per_file"
    with db.engine.connect() as conn:
        assert "AUTOINCREMENT" not in _table_sql(conn, "conversation")
        assert conn.execute(text("SELECT count(*) FROM message")).scalar() == 5
        triggers = conn.execute(text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")).scalar()
        assert triggers == 3
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        conn.execute(text("DROP TABLE adapter_rebuilt"))
        conn.commit()
    assert migrate.upgrade_to_head(db.engine) is True  # and it goes through once the obstacle is gone


def test_downgrading_0005_drops_what_waits_in_recently_deleted_and_keeps_the_rest(tmp_path):
    from alembic import command

    from app.core.storage import conversations as convs

    db = _migrated_from_0004(tmp_path)
    with db.session() as s:
        convs.delete_conversation(s, 5)
    command.downgrade(migrate.alembic_config(db.engine), "0004_one_download_per_file")
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT id FROM conversation")).all() == [(2,)]
        assert [r[0] for r in conn.execute(text("SELECT id FROM message ORDER BY id"))] == [10, 11, 12]
        assert conn.execute(text("SELECT message_id FROM feedback")).all() == [(11,)]
        assert "deleted_at" not in _table_sql(conn, "conversation")
        assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
        conn.execute(text("INSERT INTO message_fts(message_fts) VALUES ('integrity-check')"))
