"""Removing a model with its files: the row's removal is committed first and the files deleted after, so a failed
commit or a failed delete never leaves the library and the disk disagreeing in the costly direction."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app import paths
from app.core.library import registry, scan
from app.core.library.sample_gguf import write_tiny_gguf


@pytest.fixture
def model(db) -> tuple[int, Path]:
    path = write_tiny_gguf(paths.models_dir() / "doomed-Q8_0.gguf", name="doomed")
    with db.session() as session:
        scan.scan(session)
        return registry.find_model(session, "doomed").id, path.resolve()


def listed(db, model_id: int) -> bool:
    with db.session() as session:
        return registry.get_model(session, model_id) is not None


def test_a_failed_commit_keeps_the_model_and_its_file(db, model, monkeypatch):
    model_id, path = model

    def commit_fails(self):
        raise OperationalError("COMMIT", {}, sqlite3.OperationalError("disk I/O error"))

    with monkeypatch.context() as patched, pytest.raises(OperationalError):
        patched.setattr(Session, "commit", commit_fails)
        registry.remove_model(db, model_id, delete_files=True)
    assert listed(db, model_id) and path.exists()


def test_files_are_deleted_only_once_the_removal_is_committed(db, model, monkeypatch):
    model_id, path = model
    seen_by_another_connection = []
    real_unlink = Path.unlink

    def unlink(self, *args, **kwargs):
        if str(self) == str(path):
            with sqlite3.connect(db.path) as other:
                count = other.execute("SELECT count(*) FROM model WHERE id = ?", (model_id,)).fetchone()[0]
            seen_by_another_connection.append(count)
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", unlink)
    assert registry.remove_model(db, model_id, delete_files=True) == [str(path)]
    assert seen_by_another_connection == [0]  # the row was already gone for everyone when the file went
    assert not path.exists() and not listed(db, model_id)


def test_a_file_that_cannot_be_deleted_is_reported_and_the_removal_stands(db, model, monkeypatch):
    model_id, path = model

    def unlink_refused(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    with monkeypatch.context() as patched, pytest.raises(OSError) as caught:
        patched.setattr(Path, "unlink", unlink_refused)
        registry.remove_model(db, model_id, delete_files=True)
    message = str(caught.value)
    assert "doomed" in message and str(path) in message and "Permission denied" in message
    assert "removed from the library" in message and "Delete it yourself" in message
    assert not listed(db, model_id) and path.exists()  # a file left over, never a listed model without its file
    with db.session() as session:
        assert [m.name for m in scan.scan(session).added] == ["doomed-Q8_0"]  # ... which a rescan lists again


def test_forgetting_first_leaves_the_files_until_they_are_deleted(db, model):
    model_id, path = model
    removal = registry.forget_model(db, model_id, delete_files=True)
    assert (removal.name, removal.files) == ("doomed-Q8_0", (str(path),))
    assert not listed(db, model_id) and path.exists()
    assert registry.delete_model_files(removal) == [str(path)] and not path.exists()
