"""A call's webhook deliveries, try by try, as the process that delivers them saw them.

The outboxes keep only what delivery needs: how many of a call's status changes went out to
its `callback_url` and how many tries the next one had (`dispatcher.webhooks`), or one state
per `WEBHOOK_URL` event (`dispatcher.call_events`). What a person asks when a receiver says it
got nothing is not there: where did it go, how many tries, what did the receiver answer, was
it delivered or given up, when. So the one process that delivers writes it here after every
try: a hash per call, one field per event, each try overwriting the event's entry, so the hash
holds at most one entry per event the call has. The console's call page reads it.

No secret is kept: the receiver's URL is reduced to its host (a path or query may carry a
token). The hash expires with the call's other keys: each write copies the remaining time to
live of the call's key it names (`mirror`) once the archiver has given that one a TTL, and
until then the hash lives `TTL_S` after its last write. Its name holds the call id, so erasing
the call (`dialroom.history.live.erase`) erases it too.
"""

from __future__ import annotations

from typing import Literal

import httpx
from pydantic import BaseModel
from redis.asyncio import Redis

LOG_KEY = "dialroom:deliveries:{call_id}"  # hash: "<target>:<event>" -> `DeliveryTry` JSON
TTL_S = 24 * 3600  # the longest a log outlives its last try (the call events' done state too)
Target = Literal["callback_url", "webhook_url"]
State = Literal["done", "pending", "given_up"]

# KEYS: log, the call's key whose TTL it follows. ARGV: field, entry, fallback TTL.
_NOTE = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local ttl = redis.call('TTL', KEYS[2])
if ttl > 0 then
    redis.call('EXPIRE', KEYS[1], ttl)
else
    redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return 1
"""


class DeliveryTry(BaseModel):
    """An event's last try: `attempts` tries so far, the last one answered `answer`."""

    target: Target
    event: str  # call events: `call.started`; status webhooks: the status (`answered`)
    sequence: int = 0  # status webhooks: the event's place in the call's history (from 1)
    host: str  # the receiver's host (and port, if not the scheme's own)
    attempts: int
    answer: str  # `HTTP 200`, `HTTP 503`, `no answer within 10 s`, `ConnectError`
    state: State  # done, pending (tried again later), given_up
    at: float  # when the last try ended


def host_of(url: str) -> str:
    """The receiver as a page may show it: host and a port that is not the default."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "(invalid URL)"
    return f"{parsed.host}:{parsed.port}" if parsed.port is not None else parsed.host


async def note(redis: Redis, call_id: str, entry: DeliveryTry, *, mirror: str) -> None:
    """Keep `entry` as its event's last try; `mirror`: the call's key whose expiry to follow."""
    field = f"{entry.target}:{entry.sequence or entry.event}"
    keys = [LOG_KEY.format(call_id=call_id), mirror]
    await redis.eval(_NOTE, 2, *keys, field, entry.model_dump_json(), TTL_S)


async def tries(redis: Redis, call_id: str) -> list[DeliveryTry]:
    """The call's deliveries: call events first, then status webhooks in their order."""
    raw = await redis.hvals(LOG_KEY.format(call_id=call_id))
    found = [DeliveryTry.model_validate_json(v) for v in raw]
    return sorted(found, key=lambda t: (t.target != "webhook_url", t.sequence, t.at))
