"""A call's webhook deliveries for its console page: `WEBHOOK_URL`'s call events and the
status webhooks of the call's own `callback_url`.

Two sources, both read and never written here. The delivery log (`dialroom.delivery_log`)
has each event's last try as the dispatcher made it: receiver host, tries, the receiver's
answer, state, time. The call events outbox (`dispatcher.call_events`) has each `call.started`
and `call.ended` state (pending, done, given_up) and its failed tries, for a day after
delivery; an event it has and the log has not is shown from it (host and answer unknown). The
outbox's key is its own, defined once (`dialroom.call_events.EVENT_KEY`).
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from dialroom import delivery_log
from dialroom.call_events import ENDED, EVENT_KEY, STARTED, event_id

TARGETS = {"webhook_url": "WEBHOOK_URL", "callback_url": "callback_url"}


@dataclass(frozen=True)
class Delivery:
    target: str  # WEBHOOK_URL or callback_url
    event: str  # call.started, call.ended; a status webhook's status, after its number
    state: str  # done, pending, given_up
    attempts: int  # tries so far
    host: str | None = None  # the receiver, when the log has it
    answer: str | None = None  # the last try's answer (`HTTP 503`), when the log has it
    at: float | None = None  # when the last try ended, when the log has it


async def deliveries(redis: Redis, call_id: str) -> list[Delivery]:
    """Call events first (started, ended), then status webhooks in their order."""
    logged = await delivery_log.tries(redis, call_id)
    shown = [_from_log(t) for t in logged]
    events = {t.event for t in logged if t.target == "webhook_url"}
    outbox = []
    for kind in (STARTED, ENDED):
        if kind in events:
            continue
        key = EVENT_KEY.format(event_id=event_id(call_id, kind))
        state, tries = await redis.hmget(key, ["state", "tries"])
        if state is not None:
            outbox.append(_from_outbox(kind, _text(state), int(tries or 0)))
    return sorted(outbox + shown, key=_order)


def _from_log(entry: delivery_log.DeliveryTry) -> Delivery:
    event = entry.event if entry.target == "webhook_url" else f"#{entry.sequence} {entry.event}"
    return Delivery(
        target=TARGETS[entry.target],
        event=event,
        state=entry.state,
        attempts=entry.attempts,
        host=entry.host,
        answer=entry.answer,
        at=entry.at,
    )


def _from_outbox(kind: str, state: str, failed_tries: int) -> Delivery:
    """The outbox counts the tries that failed and were retried; the last one is not among
    them once the event is done or given up."""
    attempts = failed_tries + (0 if state == "pending" else 1)
    return Delivery(target="WEBHOOK_URL", event=kind, state=state, attempts=attempts)


def _order(delivery: Delivery) -> tuple[int, int]:
    if delivery.target == "WEBHOOK_URL":
        return 0, 0 if delivery.event == STARTED else 1
    return 1, int(delivery.event.split(" ", 1)[0].lstrip("#"))


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
