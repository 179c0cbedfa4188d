"""The calls in conversation right now, inbound and outbound alike, as the worker saw them begin.

An inbound call has no status in Redis while it lasts (its id is made by the worker, and its
record is written at its end), so nothing else says that it began. The worker marks every call
whose conversation begins (`begin`, one line in its entrypoint): a hash per call with what a
`call.started` event and the live-calls gauge need (persona, direction, trunk, when), and two
sorted sets, `LIVE` (all marked calls) and `NEW` (marked, not yet announced).

Who reads it: the dispatcher turns `NEW` into `call.started` events and takes each call out of
`LIVE` when the archiver has archived it (`dispatcher.call_events`); `/metrics` counts `LIVE`
by persona and direction. A mark whose room no live worker serves (after `GRACE_S`) is not
counted. An inbound (or browser) call whose worker died wrote no record: its mark is all that
is left of it, so it stays until the abandoned-calls sweep has written the call's record from
it (`dispatcher.abandoned`, once the room is gone too), and the archiver then takes it off the
list; other unserved marks are dropped (`orphans`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Protocol

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis
from redis.exceptions import RedisError

from dialroom.calls import CALL_KEY, Direction
from dialroom.worker_lines import leases

logger = logging.getLogger("dialroom.live_calls")

LIVE_KEY = "dialroom:live:{call_id}"  # hash: the fields of `LiveCall`
LIVE = "dialroom:calls:live"  # sorted set: call id -> when its conversation began
NEW = "dialroom:calls:live:new"  # sorted set: the same, until `call.started` is queued
GRACE_S = 10.0  # a mark this young counts before its worker's heartbeat names its room
TRUNK_ATTRIBUTE = "sip.trunkID"  # livekit-sip's participant attribute: the SIP trunk's id


class LiveCall(BaseModel):
    model_config = ConfigDict(frozen=True)

    call_id: str
    persona: str
    direction: Direction
    room: str
    trunk: str = ""  # the LiveKit SIP trunk the call came in or went out on ("": unknown)
    answered_at: float
    # What a record needs if the worker dies mid-call (`dispatcher.abandoned`)
    caller_number: str | None = None
    called_number: str | None = None
    started_at: float | None = None


class CallStateLike(Protocol):
    """What `begin` reads of the worker's per-call state."""

    call_id: str
    persona: str
    direction: Direction
    room: str
    answered_at: float | None


class Participant(Protocol):
    """The SIP participant of the call (livekit's `rtc.RemoteParticipant`)."""

    @property
    def attributes(self) -> Mapping[str, str]: ...


def trunk_of(caller: Participant | None) -> str:
    """The SIP trunk a caller's participant came by (both directions); '' for none."""
    return caller.attributes.get(TRUNK_ATTRIBUTE, "") if caller is not None else ""


async def begin(redis: Redis, state: CallStateLike, caller: Participant | None) -> None:
    """The call's conversation begins: mark it live. A Redis failure is logged, never
    raised: the call goes on without its `call.started`."""
    call = LiveCall(
        call_id=state.call_id,
        persona=state.persona,
        direction=state.direction,
        room=state.room,
        trunk=trunk_of(caller),
        answered_at=state.answered_at or time.time(),
        # the worker's `CallState` has them; a state that lacks them marks the call without
        caller_number=getattr(state, "caller_number", None),
        called_number=getattr(state, "called_number", None),
        started_at=getattr(state, "started_at", None),
    )
    try:
        async with redis.pipeline(transaction=True) as pipe:
            mapping = call.model_dump(exclude_none=True)
            pipe.hset(LIVE_KEY.format(call_id=call.call_id), mapping=mapping)
            pipe.zadd(LIVE, {call.call_id: call.answered_at})
            pipe.zadd(NEW, {call.call_id: call.answered_at})
            await pipe.execute()
    except (RedisError, OSError) as err:
        logger.warning("call %s: not marked live: %s", call.call_id, err)


async def load(redis: Redis, call_id: str) -> LiveCall | None:
    raw = await redis.hgetall(LIVE_KEY.format(call_id=call_id))
    return LiveCall.model_validate(_texts(raw)) if raw else None


async def forget(redis: Redis, call_id: str) -> None:
    """The call is over (archived, or its worker is gone): no longer live."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(LIVE_KEY.format(call_id=call_id))
        pipe.zrem(LIVE, call_id)
        pipe.zrem(NEW, call_id)
        await pipe.execute()


async def marked(redis: Redis) -> list[LiveCall]:
    """Every marked call, served or not."""
    ids = [_text(c) for c in await redis.zrange(LIVE, 0, -1)]
    async with redis.pipeline(transaction=False) as pipe:
        for call_id in ids:
            pipe.hgetall(LIVE_KEY.format(call_id=call_id))
        marks = await pipe.execute()
    return [LiveCall.model_validate(_texts(raw)) for raw in marks if raw]


async def live_calls(redis: Redis, *, now: float | None = None) -> list[LiveCall]:
    """The marked calls a live worker still serves (or marked under `GRACE_S` ago)."""
    now = time.time() if now is None else now
    calls = await marked(redis)
    served = (await leases(redis)).live_rooms
    return [c for c in calls if c.room in served or now - c.answered_at < GRACE_S]


async def orphans(redis: Redis, *, now: float | None = None) -> list[str]:
    """Marked calls no live worker serves any longer, to drop: an outbound one (its status
    ends it) or one whose record is written. An inbound or browser call without a record is
    left for `dispatcher.abandoned` to end from its mark."""
    now = time.time() if now is None else now
    alive = {call.call_id for call in await live_calls(redis, now=now)}
    marks = {call.call_id: call for call in await marked(redis)}
    found = []
    for call_id in (_text(x) for x in await redis.zrange(LIVE, 0, -1)):
        if call_id in alive:
            continue
        mark = marks.get(call_id)
        if mark is None or mark.direction == "outbound":
            found.append(call_id)
        elif await redis.exists(CALL_KEY.format(call_id=call_id)):
            found.append(call_id)
    return found


def _texts(raw: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in raw.items()}


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
