"""Alembic environment: runs against the engine Hearth hands over in `config.attributes`.

The whole run is one SQLite transaction with foreign keys off. SQLite changes a table's key only by rebuilding the
table (create a copy, drop the original, rename the copy), and with foreign keys on, dropping the original would
cascade to every row that points at it; a migration that rebuilds runs `PRAGMA foreign_key_check` itself. One
explicit transaction, because the driver on its own opens one only before INSERT / UPDATE / DELETE and would
commit each CREATE, DROP and ALTER by itself, leaving a half-migrated file behind a crash.
"""

from alembic import context

from app.core.storage.models import Base

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    # The pragma only takes effect outside a transaction, so before BEGIN; read back to be sure it did.
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    if connection.exec_driver_sql("PRAGMA foreign_keys").scalar() != 0:
        raise RuntimeError("could not turn foreign keys off for the migration; nothing was changed")
    try:
        # IMMEDIATE: a second Hearth process starting at the same moment waits, then finds the schema at head.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        connection.rollback()  # nothing left to roll back after the commit; everything after a failure
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()
