"""Dispatching again a call that no worker took.

livekit-server offers a dispatch's job once. When every worker reports itself full at that
moment (a worker counts a call process still starting as load), it logs "no workers with
sufficient capacity" and the dispatch stays in the room with no job, for good: without this
the call would sit in `dialing` until `dial_timeout_s` fails it, never dialed.

So the dispatcher looks at calls still `dialing` whose dial gate no worker has taken: when
the attempt's dispatch is older than `redispatch_after_s` and has no job, it is deleted and
created again, which makes livekit-server offer it afresh. A job that does turn up late for
the old dispatch is ended by livekit-server (deleting a dispatch terminates its jobs), and
the dial gate still lets only one worker dial. (Inbound calls nobody took: `dispatcher.inbound`.)
"""

from __future__ import annotations

import logging
import time

from livekit import api
from redis.asyncio import Redis

from dialroom.call_status import CallStatus, current_status, dial_claimed
from dialroom.dial import DialRequest
from dialroom.dial_queue import active_calls, load_request
from dispatcher.dispatch import carries, dispatch_once
from dispatcher.settings import DispatcherSettings

logger = logging.getLogger("dialroom.dispatcher")


async def redispatch_untaken(
    redis: Redis, lk: api.LiveKitAPI, settings: DispatcherSettings, *, now: float | None = None
) -> int:
    """Dispatch again every `dialing` call whose dispatch no worker took; return how many."""
    now = time.time() if now is None else now
    again = 0
    for call_id in await active_calls(redis):
        request = await _waiting(redis, call_id, settings, now)
        if request is not None and await _dispatch_again(lk, request, settings, now):
            again += 1
    return again


async def _waiting(
    redis: Redis, call_id: str, settings: DispatcherSettings, now: float
) -> DialRequest | None:
    """The call's request if it has been `dialing` a while and nobody has dialed it."""
    status = await current_status(redis, call_id)
    if status is None or status.status != CallStatus.DIALING:
        return None
    if now - status.updated_at < settings.redispatch_after_s:
        return None
    if await dial_claimed(redis, call_id, status.attempts):
        return None
    request = await load_request(redis, call_id)
    if request is None or request.attempt != status.attempts:
        return None
    return request


async def _dispatch_again(
    lk: api.LiveKitAPI, request: DialRequest, settings: DispatcherSettings, now: float
) -> bool:
    try:
        dispatches = await lk.agent_dispatch.list_dispatch(room_name=request.room_name)
    except api.TwirpError:
        dispatches = []  # the room is gone (closed while empty): dispatch_once recreates it
    mine = [d for d in dispatches if carries(d, request)]
    if any(d.state.jobs or _age_s(d, now) < settings.redispatch_after_s for d in mine):
        return False  # taken by a worker, or still being offered
    for dispatch in mine:
        await lk.agent_dispatch.delete_dispatch(dispatch.id, request.room_name)
    await dispatch_once(
        lk,
        request,
        agent_name=settings.agent_name,
        empty_timeout_s=settings.room_empty_timeout_s,
    )
    logger.warning(
        "call %s: no worker took its dispatch; dispatched again",
        request.call_id,
        extra={"call_id": request.call_id, "persona": request.persona},
    )
    return True


def _age_s(dispatch: api.AgentDispatch, now: float) -> float:
    return now - dispatch.state.created_at / 1e9  # livekit-server stamps it in nanoseconds
