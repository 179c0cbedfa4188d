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

With `WAIT_FOR_FREE_LINE` the same script also asks for a worker's line: the live workers'
free lines (`dialroom.worker_lines`) less the calls that will take one (dispatched but not yet
claimed by a worker, or reserved by another dispatcher), so two dispatchers cannot both give
the last free line away. One script, not the dozen round trips of reading them in turn: on a
loaded box each round trip waits for a core, and the dispatch loop takes a burst's entries one
after another (`bench/README.md`, "the dispatcher's own part").

The move to `dialing` (a compare-and-set in `dialroom.call_status`) then turns the reservation
into a `TRUNKS` entry in the same transaction (`mark_live`); a move that is refused (a cancel
won) gives the reservation back (`release`). The status keys are only read here.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from dialroom.call_status import DIAL_GATE_KEY, STATUS_KEY
from dialroom.dial_queue import ACTIVE
from dialroom.worker_lines import BEATS, FREE, FREE_LINES_TTL_MS

TRUNKS = "dialroom:dial:trunk"  # hash: call id -> the outbound trunk it was dispatched for
RESERVED = "dialroom:dial:reserved"  # hash: call id -> trunk, a slot about to be used

# KEYS: TRUNKS, RESERVED, ACTIVE, BEATS, FREE. ARGV: status key prefix, call id, trunk,
# max calls, max per trunk (0: none), whether a free line is needed (1/0), the free lines'
# TTL (ms), dial gate key prefix. 1 when the slot is taken (or already held), else 0.
_RESERVE = """
local status_prefix, call_id, trunk = ARGV[1], ARGV[2], ARGV[3]
local function status_of(id)
    return redis.call('HGET', status_prefix .. id, 'status')
end

-- Slots taken: live calls dispatched, and slots reserved for calls about to be (another
-- dispatcher's, still queued or scheduled); a reservation whose call moved on is dropped.
local live = {dialing = true, ringing = true, answered = true}
local waiting = {queued = true, scheduled = true}
local total, on_trunk, about_to_dial = 0, 0, 0
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
            total, about_to_dial = total + 1, about_to_dial + 1
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

-- A worker's line: the live workers' free lines (`worker_lines.free_lines`) less the calls
-- that will take one: dispatched (`dialing`) but not claimed by a worker yet (its dial gate),
-- and reserved.
if ARGV[6] == '1' then
    local time = redis.call('TIME')
    local now_ms = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
    local free = 0
    local live_since = now_ms - tonumber(ARGV[7])
    for _, worker in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], live_since, '+inf')) do
        free = free + (tonumber(redis.call('HGET', KEYS[5], worker)) or 0)
    end
    local untaken = about_to_dial
    for _, id in ipairs(redis.call('SMEMBERS', KEYS[3])) do
        if id ~= call_id then
            local now = redis.call('HMGET', status_prefix .. id, 'status', 'attempts')
            if now[1] == 'dialing' and now[2]
                and redis.call('EXISTS', ARGV[8] .. id .. ':' .. now[2]) == 0 then
                untaken = untaken + 1
            end
        end
    end
    if free - untaken <= 0 then
        return 0
    end
end
redis.call('HSET', KEYS[2], call_id, trunk)
return 1
"""


class Slots:
    def __init__(
        self, redis: Redis, *, max_calls: int, max_per_trunk: int, need_free_line: bool
    ) -> None:
        self.redis = redis
        self.max_calls, self.max_per_trunk = max_calls, max_per_trunk
        self.need_free_line = need_free_line
        self._reserve = redis.register_script(_RESERVE)

    async def reserve(self, call_id: str, trunk: str) -> bool:
        """Take a slot for `call_id` on `trunk` if the caps allow (and, when `need_free_line`,
        some worker has a line that no other dispatched call will take); True when taken (or
        the call already held it)."""
        keys = [TRUNKS, RESERVED, ACTIVE, BEATS, FREE]
        args = [
            STATUS_KEY.format(call_id=""),
            call_id,
            trunk,
            self.max_calls,
            self.max_per_trunk,
            int(self.need_free_line),
            FREE_LINES_TTL_MS,
            DIAL_GATE_KEY.partition("{call_id}")[0],
        ]
        return bool(await self._reserve(keys=keys, args=args))

    async def release(self, call_id: str) -> None:
        await self.redis.hdel(RESERVED, call_id)


def mark_live(call_id: str, trunk: str, pipe: Pipeline) -> None:
    """With the move to `dialing`: the call is live, and its reservation becomes its slot."""
    pipe.sadd(ACTIVE, call_id)
    pipe.hset(TRUNKS, call_id, trunk)
    pipe.hdel(RESERVED, call_id)
