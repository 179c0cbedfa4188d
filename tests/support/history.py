"""History fixtures: a fresh database per test, SQLite or PostgreSQL (`history_url`).

Loaded for every test by `tests/conftest.py` (`pytest_plugins`). `history_url` is
parametrized over both engines; the PostgreSQL server starts once per session, only when a
test asks for it, and each test gets a database of its own on it."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from dialroom.history import HistoryStore, open_history
from tests.support.postgres_server import postgres_server

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


async def new_postgres_database(admin_url: str) -> str:
    """An empty database on the session's server; its SQLAlchemy URL."""
    name = f"history_{next(_numbers)}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return (
        admin_url.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{name}"
    )


def sqlite_url(folder: Path) -> str:
    return f"sqlite+aiosqlite:///{folder / 'history.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
async def history_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    admin: str = request.getfixturevalue("postgres_admin_url")
    return await new_postgres_database(admin)


@pytest.fixture
async def history(history_url: str) -> AsyncIterator[HistoryStore]:
    store = await open_history(history_url)
    yield store
    await store.close()
