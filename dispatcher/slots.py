"""A slot under the caps, taken atomically, however many dispatchers run.

`MAX_CONCURRENT_CALLS` (all trunks) and `MAX_CONCURRENT_PER_TRUNK` bound the calls live at
once: dialing, ringing or answered. Counting them and then moving a call to `dialing` are two
steps; two dispatchers doing both at once would each see the last free slot and both take it.
So a slot is first *reserved* by one Lua script, which counts and writes in one step:

- `TRUNKS` (call id -> trunk) holds the calls dispatched; those whose status is live count;
- `RESERVED` (call id -> trunk) holds slots taken by a dispatcher that is about to move its
  call to `dialing`; they count while that call is still queued or scheduled. Any other
  status (canceled meanwhile, or a reservation left by a dispatcher that died before it
  moved its call) frees the slot, and the script drops the entry.

The move to `dialing` (a compare-and-set in `dialroom.call_status`) then turns the reservation
into a `TRUNKS` entry in the same transaction (`mark_live`); a move that is refused (a cancel
won) gives the reservation back (`release`). The status keys are only read here.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from dialroom.call_status import DIAL_GATE_KEY, STATUS_KEY, CallStatus, current_statuses
from dialroom.dial_queue import ACTIVE, active_calls

TRUNKS = "dialroom:dial:trunk"  # hash: call id -> the outbound trunk it was dispatched for
RESERVED = "dialroom:dial:reserved"  # hash: call id -> trunk, a slot about to be used

_RESERVE = """
local live = {dialing = true, ringing = true, answered = true}
local waiting = {queued = true, scheduled = true}
local call_id, trunk = ARGV[2], ARGV[3]
local total, on_trunk = 0, 0
local function status_of(id)
    return redis.call('HGET', ARGV[1] .. id, 'status')
end
local dispatched = redis.call('HGETALL', KEYS[1])
for i = 1, #dispatched, 2 do
    local id = dispatched[i]
    if id ~= call_id and live[status_of(id)] then
        total = total + 1
        if dispatched[i + 1] == trunk then on_trunk = on_trunk + 1 end
    end
end
local reserved = redis.call('HGETALL', KEYS[2])
for i = 1, #reserved, 2 do
    local id = reserved[i]
    if id ~= call_id then
        if waiting[status_of(id)] then
            total = total + 1
            if reserved[i + 1] == trunk then on_trunk = on_trunk + 1 end
        else
            redis.call('HDEL', KEYS[2], id)
        end
    end
end
local per_trunk = tonumber(ARGV[5])
if total >= tonumber(ARGV[4]) or (per_trunk > 0 and on_trunk >= per_trunk) then
    return 0
end
redis.call('HSET', KEYS[2], call_id, trunk)
return 1
"""


class Slots:
    def __init__(self, redis: Redis, *, max_calls: int, max_per_trunk: int) -> None:
        self.redis = redis
        self.max_calls, self.max_per_trunk = max_calls, max_per_trunk
        self._reserve = redis.register_script(_RESERVE)

    async def reserve(self, call_id: str, trunk: str) -> bool:
        """Take a slot for `call_id` on `trunk` if the caps allow; True when taken (or the
        call already held it)."""
        prefix = STATUS_KEY.format(call_id="")
        args = [prefix, call_id, trunk, self.max_calls, self.max_per_trunk]
        return bool(await self._reserve(keys=[TRUNKS, RESERVED], args=args))

    async def release(self, call_id: str) -> None:
        await self.redis.hdel(RESERVED, call_id)


def mark_live(call_id: str, trunk: str, pipe: Pipeline) -> None:
    """With the move to `dialing`: the call is live, and its reservation becomes its slot."""
    pipe.sadd(ACTIVE, call_id)
    pipe.hset(TRUNKS, call_id, trunk)
    pipe.hdel(RESERVED, call_id)


async def untaken(redis: Redis, *, besides: str) -> int:
    """Calls dispatched that no worker has started to dial yet: each will take a line.

    Three round trips however many calls are live (it runs before every dispatch while a line
    is checked): one call's status and dial gate each read in turn made the 40th call of a
    burst wait for some 80 round trips of the calls dispatched before it.
    """
    call_ids = [c for c in await active_calls(redis) if c != besides]
    if not call_ids:
        return 0
    gates = []
    for call_id, status in zip(call_ids, await current_statuses(redis, call_ids), strict=True):
        if status is not None and status.status == CallStatus.DIALING:
            gates.append(DIAL_GATE_KEY.format(call_id=call_id, attempt=status.attempts))
    if not gates:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for gate in gates:
            pipe.exists(gate)
        claimed = await pipe.execute()
    return sum(not found for found in claimed)
