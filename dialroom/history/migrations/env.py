"""Alembic's entry: migrate the connection `dialroom.history.migrate` hands over."""

from __future__ import annotations

from alembic import context

from dialroom.history.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through dialroom.history.migrate, which opens the database")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
