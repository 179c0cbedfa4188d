"""Moving a call's status in a test the way dispatcher and worker do: through the status
machine, one allowed move at a time, so a test can never put a call where no writer could."""

from __future__ import annotations

from redis.asyncio import Redis

from dialroom.call_status import CallStatus, record_created, transition


async def walk(
    redis: Redis,
    call_id: str,
    *steps: CallStatus,
    attempt: int,
    sip_code: int | None = None,
    detail: str | None = None,
) -> None:
    """Move the call through `steps` in order, at `attempt` (the last step carries
    `sip_code` and `detail`); fails the test on a move the status machine refuses."""
    for number, step in enumerate(steps, start=1):
        last = number == len(steps)
        moved = await transition(
            redis,
            call_id,
            step,
            attempt=attempt,
            sip_code=sip_code if last else None,
            detail=detail if last else None,
        )
        assert moved.moved, f"{call_id}: {moved.before} refused the move to {step.value}"


async def begin(redis: Redis, call_id: str, *, attempt: int) -> None:
    """Give a call made by hand (its request written by the test) its first status, queued."""
    async with redis.pipeline(transaction=True) as pipe:
        record_created(pipe, call_id, CallStatus.QUEUED, attempt=attempt)
        await pipe.execute()
