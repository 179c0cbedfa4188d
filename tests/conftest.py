"""Fixtures every tier may use: a real `redis-server` on a free loopback port.

One server per test session (`tests/support/redis_server.py`, in a temporary folder, no
persistence); `redis_url` empties it before each test that asks for it, so tests never see
each other's keys.

The call history's fixtures (`history`, `history_url`: SQLite and PostgreSQL) come from
`tests/support/history.py`; every process a test starts writes its history to a throwaway
SQLite file unless the test names a database, never to the checkout's `.run/dialroom.db`.
Each test gets a history of its own (`own_history`), so the calls a stack of an earlier
test archived never show up in another test's listing.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.redis_server import redis_server

pytest_plugins = ["tests.support.history"]
_HISTORY_DIR = tempfile.mkdtemp(prefix="dialroom-history-")
os.environ.setdefault("DATABASE_URL", f"sqlite+aiosqlite:///{_HISTORY_DIR}/dialroom.db")
# nor prune or erase anything in the checkout's .run/recordings
os.environ.setdefault("RECORDINGS_DIR", f"{_HISTORY_DIR}/recordings")


@pytest.fixture(scope="session")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with redis_server(tmp_path_factory.mktemp("redis"), appendonly=False) as port:
        yield port


@pytest.fixture
def redis_url(redis_port: int) -> str:
    """The session's Redis, emptied for this test."""
    with redis.Redis(port=redis_port) as client:
        client.flushall()
    return f"redis://127.0.0.1:{redis_port}/0"


@pytest.fixture(autouse=True)
def own_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """This test's processes (an API under TestClient, a dispatcher it starts) write their
    history here; stacks shared by a module keep the session's throwaway file."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/history.db")
