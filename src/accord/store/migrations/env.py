"""Alembic environment: the engine is handed in by accord.store.database.migrate."""

from __future__ import annotations

from alembic import context

from accord.store.schema import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    if connection.dialect.name == "postgresql":
        # Processes started together on a new or older hub (the web app and workers) would
        # each create or alter the same tables, and all but one fail. The first to take
        # this lock migrates; the others then find the schema current. (SQLite: the
        # transaction's BEGIN IMMEDIATE already lets one writer in at a time.)
        connection.exec_driver_sql(
            "SELECT pg_advisory_xact_lock(hashtext('accord.migrate.' || current_schema()))"
        )
    context.configure(connection=connection, target_metadata=metadata)
    context.run_migrations()
