"""Where call events are made: `call.started` from the calls the workers mark live,
`call.ended` from the archiver, each written once into the event outbox.

One writer: only the dispatcher makes events, from two things it already owns. The events
loop turns each newly live call (`dialroom.live_calls.NEW`) into `call.started`; the archiver,
right after a call is in the history and before its Redis keys are let go, calls
`on_archived`, which queues `call.ended` from the archived call (so the event has what the
history has), observes the call's latency for /metrics, and takes the call off the live list.

The outbox is a hash per event (`dialroom.call_events.EVENT_KEY`: body, tries, state) and a
sorted set of the events due (`DUE`). Queueing is idempotent by event id
(`<call_id>:started|ended`): an archiver killed before it let a call go archives it again and
queues nothing new. A delivered (or given up) event keeps its hash, without the body, for
`DONE_TTL_S`, so a late repeat is not queued again. Event keys are named after the call, so
erasing a call (`DELETE /api/calls/{id}`) erases its events too.
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import Redis

from dialroom import call_events, campaigns, live_calls
from dialroom.call_events import EVENT_KEY, CallEvent
from dialroom.history import ArchivedCall
from dispatcher import call_metrics

logger = logging.getLogger("dialroom.dispatcher.events")

DUE = "dialroom:events:due"  # sorted set: event id -> when its next try is due
PENDING, DONE, GIVEN_UP = "pending", "done", "given_up"
DONE_TTL_S = 24 * 3600
ORPHANS_EVERY_S = 15.0
BATCH = 100

# KEYS: event, due. ARGV: event id, body, now. Queued once per event id.
_ENQUEUE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    return 0
end
redis.call('HSET', KEYS[1], 'body', ARGV[2], 'tries', 0, 'state', 'pending')
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
return 1
"""


class CallEventSource:
    """Makes the call events and queues them; with no `url` (WEBHOOK_URL unset) it queues
    nothing but still keeps the live list and the latency metrics."""

    def __init__(self, redis: Redis, *, url: str) -> None:
        self.redis = redis
        self.url = url
        self._enqueue = redis.register_script(_ENQUEUE)
        self._orphans_at = 0.0

    async def enqueue(self, event: CallEvent) -> bool:
        """Queue the event unless its id was queued before; True when queued now."""
        key = EVENT_KEY.format(event_id=event.event_id)
        args = [event.event_id, event.model_dump_json(), time.time()]
        return bool(await self._enqueue(keys=[key, DUE], args=args))

    async def step(self) -> int:
        """Announce the calls marked live since the last pass; drop orphaned marks now and
        then. How many calls were announced."""
        announced = 0
        for raw in await self.redis.zrange(live_calls.NEW, 0, BATCH - 1):
            call_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            await self._announce(call_id)
            announced += 1
        if time.time() - self._orphans_at >= ORPHANS_EVERY_S:
            self._orphans_at = time.time()
            for call_id in await live_calls.orphans(self.redis):
                logger.warning("call %s: its worker is gone; off the live list", call_id)
                await live_calls.forget(self.redis, call_id)
        return announced

    async def _announce(self, call_id: str) -> None:
        """`call.started` for a newly live call, queued before it leaves NEW (a crash in
        between queues it again: the same id, nothing new)."""
        call = await live_calls.load(self.redis, call_id)
        if call is not None and self.url:
            owner = (await campaigns.campaigns_of(self.redis, [call_id])).get(call_id)
            await self.enqueue(call_events.started(call, campaign_id=owner))
        await self.redis.zrem(live_calls.NEW, call_id)

    async def on_archived(self, call: ArchivedCall) -> None:
        """The archiver's hook: the call is in the history."""
        live = await live_calls.load(self.redis, call.call_id)
        trunk = live.trunk if live is not None else ""
        if await self.redis.zscore(live_calls.NEW, call.call_id) is not None:
            await self._announce(call.call_id)  # ended before the events loop saw it start
        if self.url:
            await self.enqueue(call_events.ended(call, trunk=trunk))
        await call_metrics.observe_archived(self.redis, call, trunk=trunk)
        if live is not None:
            await live_calls.forget(self.redis, call.call_id)
