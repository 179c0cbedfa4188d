"""Bring a database's schema to the code's: Alembic, run from code at every process start.

No alembic.ini: the configuration is built here, with the migrations folder beside this file.
Alembic's own commands are synchronous, so they run on the async engine's connection through
`run_sync`, the recipe Alembic documents for asyncio applications; `migrations/env.py` takes
that connection from `config.attributes`.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger("dialroom.history")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


TRIES = 5  # the API and the dispatcher start together and may both find the schema old
# Alembic's `context` is one per process: migrations in one process (one event loop) run
# one at a time.
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _lock() -> asyncio.Lock:
    return _locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate to `revision`. Two processes migrating at once: the one that loses the race
    fails its transaction (the table exists, the database is locked) and tries again, to
    find the schema already there."""
    for attempt in range(1, TRIES + 1):
        try:
            async with _lock(), engine.begin() as conn:
                await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))
            return
        except DBAPIError as err:
            if attempt == TRIES:
                raise
            logger.info("migrating the call history raced another process (%s); again", err)
            await asyncio.sleep(0.2 * attempt)


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with _lock(), engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))
