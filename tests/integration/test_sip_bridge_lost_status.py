"""An answered outbound call cut off by livekit-sip's death ends, through the one call-status
machine, `failed` with the `sip_bridge_lost` detail, and its record says `sip_bridge_lost`
(`worker.bridge_loss`, `worker.finish`), on a real Redis."""

from __future__ import annotations

import json

import pytest
from livekit import rtc
from livekit.rtc._proto import participant_pb2 as proto
from redis.asyncio import Redis

from dialroom import dial_queue
from dialroom.call_status import CallStatus, current_status, status_history
from dialroom.calls import CALL_KEY
from dialroom.dial import OutboundCall
from tests.support.statuses import walk
from worker.bridge_loss import DETAIL, SIP_BRIDGE_LOST, watch
from worker.call_state import CallState
from worker.finish import finish_call

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def test_an_answered_call_whose_bridge_died_ends_failed_with_its_detail(
    store: Redis, redis_url: str
) -> None:
    order = OutboundCall.model_validate({"to_number": "+14155550123", "persona": "demo"})
    call_id = (await dial_queue.enqueue(store, order)).call_id
    await walk(store, call_id, CallStatus.DIALING, CallStatus.ANSWERED, attempt=1)
    state = CallState(call_id=call_id, persona="demo", direction="outbound", room="r", attempt=1)
    state.answered = True
    room = rtc.Room()
    info = proto.ParticipantInfo(identity="sip_out", kind=proto.PARTICIPANT_KIND_SIP)
    watch(room, state, rtc.RemoteParticipant(proto.OwnedParticipant(info=info)), end_call=list)
    caller = rtc.RemoteParticipant(proto.OwnedParticipant(info=info))
    room.emit("connection_quality_changed", caller, rtc.ConnectionQuality.QUALITY_LOST)
    state.close_reason = "job_shutdown"  # the room was deleted: the job ends

    await finish_call(state, Redis.from_url(redis_url))

    now = await current_status(store, call_id)
    assert now is not None and now.status == CallStatus.FAILED
    assert now.detail is not None and now.detail.startswith(DETAIL)
    assert [e.status for e in await status_history(store, call_id)][-1] == CallStatus.FAILED
    record = json.loads(await store.get(CALL_KEY.format(call_id=call_id)) or "{}")
    assert record["outcome"] == SIP_BRIDGE_LOST
