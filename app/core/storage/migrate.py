"""Alembic migrations, applied at start-up. The common case (already at head) costs one query, not an Alembic load."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The newest revision under migrations/versions; a test checks that it matches Alembic's own view of head.
HEAD_REVISION = "0007_assistant_versions"


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def alembic_config(engine: Engine):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade_to_head(engine: Engine) -> bool:
    """Bring the schema to head. Returns True when a migration ran."""
    if current_revision(engine) == HEAD_REVISION:
        return False
    from alembic import command

    command.upgrade(alembic_config(engine), "head")
    return True
