"""A persona edit reaches the next call; a broken edit is logged and the last good version
keeps serving, across call processes (it lives in a real Redis)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from dialroom.last_good import persona_for_call
from dialroom.paths import AGENTS_DIR
from dialroom.persona import PersonaError
from tests.support.redis_server import redis_server

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[Redis]:
    with redis_server(tmp_path / "redis") as port:
        client = Redis(port=port)
        yield client
        await client.aclose()


@pytest.fixture
def agents(tmp_path: Path) -> Path:
    folder = tmp_path / "agents"
    folder.mkdir()
    shutil.copy(AGENTS_DIR / "demo.yaml", folder / "demo.yaml")
    return folder


async def test_edit_applies_to_the_next_call(redis: Redis, agents: Path) -> None:
    first = await persona_for_call("demo", redis, agents_dir=agents)
    path = agents / "demo.yaml"
    path.write_text(path.read_text().replace("Dialroom demo.", "Dialroom demo, version two."))
    second = await persona_for_call("demo", redis, agents_dir=agents)
    assert "version two" not in first.persona.greeting.inbound
    assert "version two" in second.persona.greeting.inbound


async def test_broken_edit_keeps_the_last_good_version(
    redis: Redis, agents: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = await persona_for_call("demo", redis, agents_dir=agents)
    (agents / "demo.yaml").write_text(
        (agents / "demo.yaml").read_text().replace("provider: flow", "provider: flwo")
    )
    with caplog.at_level(logging.WARNING, logger="dialroom.personas"):
        served = await persona_for_call("demo", redis, agents_dir=agents)
    assert served.persona == good.persona
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("demo.yaml: llm.provider:") and "last good version" in line


async def test_broken_persona_never_good_is_an_error(redis: Redis, agents: Path) -> None:
    (agents / "demo.yaml").write_text("stt: {provider: nope}\n")
    with pytest.raises(PersonaError, match="demo.yaml: stt.provider"):
        await persona_for_call("demo", redis, agents_dir=agents)
