"""A call whose persona cannot start fails before anyone's phone rings: the worker builds the
persona's agent and session before it dials (`worker.prepare`), so a missing provider key is
a `failed` status naming it, and no INVITE reaches the callee."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis

from callcheck.phone import start_answering
from dialroom.call_status import CallStatus, current_status
from tests.support.outbound import place, wait_terminal
from tests.support.stack import RunningStack

pytestmark = pytest.mark.e2e


def test_a_persona_that_cannot_start_fails_before_the_phone_rings(
    outbound_stack: RunningStack, phone_port: int, tmp_path: Path
) -> None:
    call_id = "out-cannot-start-1"
    # `receptionist` needs Azure speech and OpenAI keys; this stack has none of them.
    with start_answering(phone_port, result_dir=tmp_path, max_calls=1, duration=30) as phone:
        place(outbound_stack, call_id, persona="receptionist")
        history = wait_terminal(outbound_stack, call_id, timeout=60)
        result = phone.stop()
    assert history == [CallStatus.QUEUED, CallStatus.DIALING, CallStatus.FAILED]
    assert result.invites == [], "the phone rang for a call that could not start"

    async def detail() -> str | None:
        async with redis.asyncio.Redis(port=outbound_stack.redis_port) as client:
            status = await current_status(client, call_id)
        return status.detail if status else None

    assert "AZURE_SPEECH_KEY" in (asyncio.run(detail()) or "")
