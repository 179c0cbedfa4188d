"""Fixtures every tier may use: a real `redis-server` on a free loopback port.

One server per test session (`tests/support/redis_server.py`, in a temporary folder, no
persistence); `redis_url` empties it before each test that asks for it, so tests never see
each other's keys.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.support.redis_server import redis_server


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
