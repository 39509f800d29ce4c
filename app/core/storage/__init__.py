"""SQLite storage: ORM models, the database handle, migrations and query functions."""
