"""Alembic migrations of the call history (run by `dialroom.history.migrate`)."""
