"""How many calls a worker takes, and what a caller hears when every line is taken.

A worker reports itself full at MAX_CALLS_PER_WORKER + 1 calls: the extra slot is never a
conversation, it tells one more inbound caller that all lines are busy and hangs up, so a
full box answers with a sentence instead of ringing into silence.
"""

from __future__ import annotations

from livekit.agents import AgentServer, JobContext, JobRequest

OVERFLOW_ATTRIBUTE = "dialroom.overflow"


def load(server: AgentServer, max_calls: int) -> float:
    return len(server.active_jobs) / (max_calls + 1)


async def accept(request: JobRequest, *, active_calls: int, max_calls: int) -> None:
    overflow = active_calls >= max_calls
    await request.accept(attributes={OVERFLOW_ATTRIBUTE: "true"} if overflow else {})


def is_overflow(ctx: JobContext) -> bool:
    return (ctx.token_claims().attributes or {}).get(OVERFLOW_ATTRIBUTE) == "true"
