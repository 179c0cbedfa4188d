"""Placing an outbound call from inside its room: dial once, report how it went.

The dispatcher may deliver the same call twice (it crashed between dispatching and
acknowledging); `claim_dial` makes sure only one worker ever dials a given attempt.

Statuses written here: `dialing` (unless the dispatcher already wrote it for this attempt),
`ringing` when the far end rings, `answered`. The ringing signal is livekit-sip's own: the
callee's participant joins the room before the INVITE goes out, with the attribute
`sip.callStatus=dialing`, which becomes `ringing` on the first 18x provisional response (180
Ringing, 183 Session Progress) and `active` on answer. The dial itself still waits for the
answer (`wait_until_answered`), because that is how the final SIP code (486 busy, 480 no
answer, ...) comes back; the attribute is watched beside it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import aiohttp
from google.protobuf.duration_pb2 import Duration
from livekit import api, rtc
from livekit.agents import JobContext
from redis.asyncio import Redis

from dialroom.call_status import CallStatus, claim_dial, transition
from dialroom.dial import DialRequest
from dialroom.redact import mask_number
from worker import trunks

logger = logging.getLogger("dialroom.worker.outbound")

# SIP final responses by what they mean for the call (and so for retries).
BUSY_CODES = frozenset({486, 600})
NO_ANSWER_CODES = frozenset({408, 480, 487})
REJECTED_CODES = frozenset({403, 603, 404, 484, 604})
# livekit-sip reports its own ringing timeout as a cancellation with no SIP code.
RING_TIMEOUT_TWIRP_CODES = frozenset({"canceled", "deadline_exceeded"})
ROOM_POLL_S = 0.05  # while the job's room connects, beside the dial
SIP_CALL_STATUS = "sip.callStatus"  # livekit-sip: dialing -> ringing -> active -> hangup


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
    """A trunk is named in configuration by id (`ST_...`) or by its name. Uncached: a warm
    transfer's rare dial; a call's own dial goes through `worker.trunks`' cache."""
    if ref.startswith("ST_"):
        return ref
    try:
        return await trunks.lookup(lk, ref)
    except trunks.TrunkNotFound:
        raise DialFailed(CallStatus.FAILED, None, f"no outbound SIP trunk named '{ref}'") from None


async def dial(
    ctx: JobContext, request: DialRequest, *, redis: Redis, trunk: str, ring_timeout_s: float
) -> Dialed | None:
    """Dial the callee into this room; None when another worker already dialed this attempt."""
    if not await claim_dial(redis, request.call_id, request.attempt):
        logger.warning("call %s attempt %d was already dialed", request.call_id, request.attempt)
        return None
    await _mark_dialing(redis, request)
    identity = f"callee-{request.call_id}"
    ringing = asyncio.Event()
    report = asyncio.create_task(_report_ringing(ctx.room, identity, ringing, redis, request))
    cached = False
    try:
        trunk_id, cached = await trunks.trunk_id(ctx.api, redis, trunk)
        await ctx.api.sip.create_sip_participant(
            api.CreateSIPParticipantRequest(
                sip_trunk_id=trunk_id,
                sip_call_to=request.to_number,
                sip_number=request.from_number or "",
                room_name=ctx.room.name,
                participant_identity=identity,
                participant_name=request.caller_name or "",
                headers={"X-Dialroom-Call-Id": request.call_id},  # names the call at the far end
                wait_until_answered=True,
                ringing_timeout=Duration(seconds=int(ring_timeout_s)),
            )
        )
    except api.SipCallError as err:
        code = err.sip_status_code
        status = status_for_sip_code(code, err.code)
        raise DialFailed(status, code, err.sip_status or str(err)) from err
    except api.TwirpError as err:
        if cached:  # perhaps a trunk deleted or re-created since: the next call looks again
            await trunks.forget(redis, trunk)
        status = status_for_sip_code(None, err.code)
        raise DialFailed(status, None, f"{err.code}: {err.message}") from err
    except trunks.TrunkNotFound as err:
        raise DialFailed(CallStatus.FAILED, None, f"no outbound SIP trunk named '{err}'") from err
    except (aiohttp.ClientError, TimeoutError) as err:
        # livekit-server or livekit-sip died under the request (a restart, a crash): the
        # dial's fate is unknown and its gate taken, so the attempt fails, never dials again.
        raise DialFailed(CallStatus.FAILED, None, f"LiveKit unreachable: {err!r}") from err
    finally:
        await _settle(report, ringing)
    logger.info("call %s answered by %s", request.call_id, mask_number(request.to_number))
    await transition(redis, request.call_id, CallStatus.ANSWERED, attempt=request.attempt)
    return Dialed(identity=identity)


async def _mark_dialing(redis: Redis, request: DialRequest) -> None:
    """`dialing` once per attempt: the dispatcher writes it when it dispatches; a dispatch
    made some other way (tests, tools) gets it here (the status machine refuses a second)."""
    await transition(redis, request.call_id, CallStatus.DIALING, attempt=request.attempt)


async def _report_ringing(
    room: rtc.Room, identity: str, ringing: asyncio.Event, redis: Redis, request: DialRequest
) -> None:
    """Wait for the callee's participant to say it rings, then write `ringing`."""

    def check(participant: rtc.Participant) -> None:
        if participant.identity == identity:
            if participant.attributes.get(SIP_CALL_STATUS) == "ringing":
                ringing.set()

    def on_attributes(_changed: dict[str, str], participant: rtc.Participant) -> None:
        check(participant)

    room.on("participant_connected", check)
    room.on("participant_attributes_changed", on_attributes)
    try:
        # the dial may go out before this job's room connects (`worker.dial_out`): those in
        # the room when it connects come with no event (livekit-rtc emits none for its own
        # connect either), so they are looked at once it has
        while not room.isconnected():  # noqa: ASYNC110
            await asyncio.sleep(ROOM_POLL_S)
        for participant in room.remote_participants.values():
            check(participant)
        await ringing.wait()
    finally:
        room.off("participant_connected", check)
        room.off("participant_attributes_changed", on_attributes)
    logger.info("call %s ringing", request.call_id)
    await transition(redis, request.call_id, CallStatus.RINGING, attempt=request.attempt)


async def _settle(report: asyncio.Task[None], ringing: asyncio.Event) -> None:
    """The dial ended: let a `ringing` already seen be written first (statuses stay in
    order), else stop watching. No await between the check and the cancel, so a ringing
    seen later can no longer slip in after `answered` or `busy`."""
    if ringing.is_set():
        await report
    else:
        report.cancel()
