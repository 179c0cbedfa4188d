"""The Redis client of one call process: it rides out a restart of Dialroom's Redis.

Why: a call writes to Redis as it goes (ringing, answered, its live mark) and once more as it
ends (its record, its last status). redis-py's default retry gives up within about a second
of refused connections, and Dialroom's Redis, restarted by its supervisor, is back after
~1.5 s (AOF replayed). A call that ended in that window lost its record and its last status:
the dispatcher failed it minutes later (`no answer within 180s`), or after an hour for an
answered one (`tests/e2e/test_crash_matrix.py` caught it).

Every write a call makes is safe to repeat: its record is a SET and ZADDs, a status move is a
compare-and-set that reads the status again (`dialroom.call_status.transition`), a do-not-call
entry is a set member. So the client retries a refused or dropped connection for
`ride_out_s()` in all (5.6 s), which fits the job's 10 s shutdown (livekit's
`shutdown_process_timeout`) with room for the post-call summary's own limit.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

FIRST_WAIT_S = 0.1
LONGEST_WAIT_S = 0.5
RETRIES = 12  # 0.2 + 0.4 + 10 x 0.5: 5.6 s of waiting, then the error is raised
CONNECT_TIMEOUT_S = 2.0  # a Redis that takes a connection and says nothing is a retry too


def _backoff() -> ExponentialBackoff:
    return ExponentialBackoff(cap=LONGEST_WAIT_S, base=FIRST_WAIT_S)


def ride_out_s() -> float:
    """How long a write waits for Redis in all, without the connect timeouts."""
    backoff = _backoff()
    return sum(backoff.compute(failures) for failures in range(1, RETRIES + 1))


def call_redis(url: str) -> Redis:
    """A client for one call's writes (see the module)."""
    return Redis.from_url(
        url, retry=Retry(_backoff(), RETRIES), socket_connect_timeout=CONNECT_TIMEOUT_S
    )
