"""A call's `WEBHOOK_URL` deliveries, as the dispatcher's event outbox records them.

Each call has at most two events (`call.started`, `call.ended`); the outbox keeps each one's
state (pending, done, given_up) and how many tries failed, for a day after delivery
(`dispatcher.call_events`). The key format is the outbox's (a test keeps the two equal); the
API reads it and never writes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from dialroom.call_events import ENDED, STARTED, event_id

EVENT_KEY = "dialroom:event:{event_id}"  # = dispatcher.call_events.EVENT_KEY


@dataclass(frozen=True)
class Delivery:
    event: str
    state: str
    failed_tries: int  # the outbox counts the tries that failed and were retried


async def deliveries(redis: Redis, call_id: str) -> list[Delivery]:
    found = []
    for kind in (STARTED, ENDED):
        key = EVENT_KEY.format(event_id=event_id(call_id, kind))
        state, tries = await redis.hmget(key, ["state", "tries"])
        if state is not None:
            found.append(Delivery(event=kind, state=_text(state), failed_tries=int(tries or 0)))
    return found


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
