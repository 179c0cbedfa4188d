"""Placing an outbound call from inside its room: dial once, report how it went.

The dispatcher may deliver the same call twice (it crashed between dispatching and
acknowledging); `claim_dial` makes sure only one worker ever dials a given attempt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from google.protobuf.duration_pb2 import Duration
from livekit import api
from livekit.agents import JobContext
from redis.asyncio import Redis

from dialroom.call_status import CallStatus, claim_dial, set_status
from dialroom.dial import DialRequest
from dialroom.redact import mask_number

logger = logging.getLogger("dialroom.worker.outbound")

# SIP final responses by what they mean for the call (and so for retries).
BUSY_CODES = frozenset({486, 600})
NO_ANSWER_CODES = frozenset({408, 480, 487})
REJECTED_CODES = frozenset({403, 603, 404, 484, 604})
# livekit-sip reports its own ringing timeout as a cancellation with no SIP code.
RING_TIMEOUT_TWIRP_CODES = frozenset({"canceled", "deadline_exceeded"})


class DialFailed(Exception):
    def __init__(self, status: CallStatus, sip_code: int | None, detail: str) -> None:
        super().__init__(detail)
        self.status, self.sip_code = status, sip_code


@dataclass(frozen=True)
class Dialed:
    identity: str


def status_for_sip_code(code: int | None, twirp_code: str = "") -> CallStatus:
    if code is None and twirp_code in RING_TIMEOUT_TWIRP_CODES:
        return CallStatus.NO_ANSWER
    if code in BUSY_CODES:
        return CallStatus.BUSY
    if code in NO_ANSWER_CODES:
        return CallStatus.NO_ANSWER
    if code in REJECTED_CODES:
        return CallStatus.REJECTED
    return CallStatus.FAILED


async def resolve_outbound_trunk(lk: api.LiveKitAPI, ref: str) -> str:
    """A trunk is named in configuration by id (`ST_...`) or by its name."""
    if ref.startswith("ST_"):
        return ref
    trunks = await lk.sip.list_outbound_trunk(api.ListSIPOutboundTrunkRequest())
    for trunk in trunks.items:
        if trunk.name == ref:
            return trunk.sip_trunk_id
    raise DialFailed(CallStatus.FAILED, None, f"no outbound SIP trunk named '{ref}'")


async def dial(
    ctx: JobContext, request: DialRequest, *, redis: Redis, trunk: str, ring_timeout_s: float
) -> Dialed | None:
    """Dial the callee into this room; None when another worker already dialed this attempt."""
    if not await claim_dial(redis, request.call_id, request.attempt):
        logger.warning("call %s attempt %d was already dialed", request.call_id, request.attempt)
        return None
    await set_status(redis, request.call_id, CallStatus.DIALING, attempt=request.attempt)
    identity = f"callee-{request.call_id}"
    try:
        trunk_id = await resolve_outbound_trunk(ctx.api, trunk)
        await ctx.api.sip.create_sip_participant(
            api.CreateSIPParticipantRequest(
                sip_trunk_id=trunk_id,
                sip_call_to=request.to_number,
                sip_number=request.from_number or "",
                room_name=ctx.room.name,
                participant_identity=identity,
                participant_name=request.caller_name or "",
                wait_until_answered=True,
                ringing_timeout=Duration(seconds=int(ring_timeout_s)),
            )
        )
    except api.SipCallError as err:
        code = err.sip_status_code
        status = status_for_sip_code(code, err.code)
        raise DialFailed(status, code, err.sip_status or str(err)) from err
    except api.TwirpError as err:
        status = status_for_sip_code(None, err.code)
        raise DialFailed(status, None, f"{err.code}: {err.message}") from err
    logger.info("call %s answered by %s", request.call_id, mask_number(request.to_number))
    await set_status(redis, request.call_id, CallStatus.ANSWERED, attempt=request.attempt)
    return Dialed(identity=identity)
