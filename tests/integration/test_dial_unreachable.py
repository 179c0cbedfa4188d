"""A dial whose LiveKit request dies in transport (livekit-server or livekit-sip killed under
it) fails its attempt, with a reason, instead of crashing the job and leaving the call
`ringing` until the sweep's dial timeout (found by the crash matrix, tests/e2e).

The request goes through livekit's real API client to a real socket on loopback that drops
every connection, as a killed server does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from livekit import api, rtc
from redis.asyncio import Redis

from dialroom.call_status import CallStatus, dial_claimed
from dialroom.dial import DialRequest
from worker.outbound import DialFailed, dial

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


@dataclass
class JobContextLike:
    """What `dial` reads of livekit's JobContext: its API client and its room."""

    api: api.LiveKitAPI
    room: rtc.Room


async def drop(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


@pytest.fixture
async def dead_livekit() -> AsyncIterator[api.LiveKitAPI]:
    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = api.LiveKitAPI(url=f"http://127.0.0.1:{port}", api_key="k", api_secret="s" * 32)
    try:
        yield client
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()


async def test_a_dial_cut_off_in_transport_fails_its_attempt(
    store: Redis, dead_livekit: api.LiveKitAPI
) -> None:
    request = DialRequest(call_id="unreachable-1", to_number="+15551234567", persona="demo")
    ctx = JobContextLike(api=dead_livekit, room=rtc.Room())
    with pytest.raises(DialFailed) as failed:
        await dial(ctx, request, redis=store, trunk="ST_dev", ring_timeout_s=5)  # type: ignore[arg-type]
    assert failed.value.status == CallStatus.FAILED
    assert "LiveKit unreachable" in str(failed.value)
    assert await dial_claimed(store, request.call_id, 1), "the attempt stays taken: no redial"
