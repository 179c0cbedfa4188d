"""A poison queue entry does not stop the stack: a call whose persona file is not UTF-8 is
queued first, and the call queued after it is still dialed and answered, through the whole
stack (`start.py up`, the dispatcher process, a worker, the dev trunk to a test phone).

Before, the dispatcher process died on the first entry, `start.py up` stopped every process,
and a restarted dispatcher met the same entry first again."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from callcheck.phone import answer_once
from dialroom import dial_queue
from dialroom.dial import OutboundCall
from dialroom.paths import ROOT
from dispatcher.entries import MAX_TRIES
from tests.e2e.conftest import FIXTURES
from tests.support.dispatching import poison_yaml
from tests.support.stack import RunningStack, start_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def agents(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("agents")
    shutil.copy(ROOT / "agents" / "demo.yaml", folder / "demo.yaml")
    return folder


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, phone_port: int, agents: Path
) -> Iterator[RunningStack]:
    env = {
        "SIP_DEV_OUTBOUND_ADDRESS": f"127.0.0.1:{phone_port}",
        "RING_TIMEOUT_S": "6",
        "AGENTS_DIR": str(agents),
    }
    running = start_stack(tmp_path_factory.mktemp("poison"), num_agents=1, env=env)
    yield running
    running.stop()


def call_of(client: httpx.Client, call_id: str) -> Any:
    response = client.get(f"/api/calls/{call_id}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(client: httpx.Client, call_id: str, status: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while (call := call_of(client, call_id))["status"] != status:
        assert time.monotonic() < deadline, f"call {call_id} never {status}: {call}"
        time.sleep(0.5)
    return call


async def queue_poison(stack: RunningStack, agents: Path) -> str:
    """A persona file the YAML parser crashes on (RecursionError), and a call queued for it."""
    (agents / "legacy.yaml").write_text(poison_yaml())
    redis = Redis.from_url(stack.state.redis_url, decode_responses=True)
    try:
        order = OutboundCall(to_number="+14155550123", persona="legacy")
        return (await dial_queue.enqueue(redis, order)).call_id
    finally:
        await redis.aclose()


def test_the_call_after_a_poison_entry_is_dialed_and_answered(
    stack: RunningStack, agents: Path, phone_port: int, tmp_path: Path
) -> None:
    with (
        stack.api_client() as client,
        answer_once(phone_port, tmp_path, play=[(FIXTURES / "caller_friday.wav", 7.0)]) as phone,
    ):
        poison = asyncio.run(queue_poison(stack, agents))
        body = {"to_number": "+14155550123", "persona": "demo"}
        accepted = client.post("/api/outbound-call", json=body)
        assert accepted.status_code == 202, accepted.text
        good = accepted.json()["call_id"]

        failed = wait_for(client, poison, "failed")
        assert f"({MAX_TRIES} tries): RecursionError" in failed["detail"]
        answered = wait_for(client, good, "completed")
        result = phone.result(timeout=30)
    assert [e["status"] for e in answered["history"]][:4] == [
        "queued",
        "dialing",
        "ringing",
        "answered",
    ]
    assert len(result.invites) == 1, "only the good call rang the phone"
    assert stack.process.poll() is None, "the stack is still up"
    assert "dispatcher stopped unexpectedly" not in stack.output.read_text()
