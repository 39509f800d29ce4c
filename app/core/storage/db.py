"""Opening the database: SQLite pragmas, migrations to head, and recovery of replies cut off by a crash."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from app.core.storage import migrate, recovery

log = logging.getLogger(__name__)


def _set_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # NORMAL is durable across application crashes in WAL mode; only an OS crash can lose the last commit.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


class Database:
    """One SQLite file. Safe to share between threads: each unit of work opens its own session."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(f"sqlite:///{self.path}", future=True)
        event.listen(self.engine, "connect", _set_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def open(cls, path: Path) -> Database:
        """Open (creating if needed), migrate to head, and mark replies orphaned by dead processes."""
        db = cls(path)
        migrate.upgrade_to_head(db.engine)
        with db.session() as session:
            count = recovery.mark_orphaned_streams(session)
        if count:
            log.info("marked %d reply(ies) from a previous run as interrupted", count)
        return db

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A session that holds the write lock from its first statement. A plain session takes it only at its first
        write, so two of them can both read "not there yet" and both insert; a read-then-insert that must not
        interleave with another writer uses this one, and a second writer waits (up to the busy timeout)."""
        with self.session() as session:
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            yield session

    def journal_mode(self) -> str:
        with self.engine.connect() as conn:
            return conn.execute(text("PRAGMA journal_mode")).scalar_one()

    def close(self) -> None:
        self.engine.dispose()
