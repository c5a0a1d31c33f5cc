"""Alembic environment: the engine is handed in by accord.store.database.migrate."""

from __future__ import annotations

from alembic import context

from accord.store.schema import metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata)
    context.run_migrations()
