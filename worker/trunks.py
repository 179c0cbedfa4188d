"""An outbound trunk's id from its configured name, asked of LiveKit once a minute, not per call.

A trunk is configured by id (`ST_...`) or by name (`SIP_OUTBOUND_TRUNK`'s default is a name).
A name costs a `ListSIPOutboundTrunk` request to livekit-server on the INVITE's path; in a
burst of 40 calls that is 40 requests to a server already busy with the burst's rooms. Each
call runs in a process of its own, so a per-process memo would never be hit: the id is kept
in Redis, shared by every call process of every worker, for `TTL_S`. A dial refused by
LiveKit with an id from the cache drops it (`forget`), so a trunk re-created under the same
name is found again on the next call.
"""

from __future__ import annotations

import logging

from livekit import api
from redis.asyncio import Redis

logger = logging.getLogger("dialroom.worker.trunks")
KEY = "dialroom:sip:outbound-trunk:{name}"
TTL_S = 60  # a renamed or re-created trunk is picked up within a minute at worst


class TrunkNotFound(LookupError):
    """No outbound trunk of that name on the LiveKit server."""


async def trunk_id(lk: api.LiveKitAPI, redis: Redis, ref: str) -> tuple[str, bool]:
    """The trunk's id, and whether it came from the cache; raises TrunkNotFound."""
    if ref.startswith("ST_"):
        return ref, False
    cached = await redis.get(KEY.format(name=ref))
    if cached is not None:
        return cached.decode() if isinstance(cached, bytes) else str(cached), True
    found = await lookup(lk, ref)
    await redis.set(KEY.format(name=ref), found, ex=TTL_S)
    return found, False


async def lookup(lk: api.LiveKitAPI, name: str) -> str:
    """Ask LiveKit for the trunk named `name`."""
    trunks = await lk.sip.list_outbound_trunk(api.ListSIPOutboundTrunkRequest())
    for trunk in trunks.items:
        if trunk.name == name:
            return str(trunk.sip_trunk_id)
    raise TrunkNotFound(name)


async def forget(redis: Redis, ref: str) -> None:
    """Drop a cached id LiveKit refused: the next call asks LiveKit again."""
    if not ref.startswith("ST_"):
        logger.info("outbound trunk '%s': cached id dropped", ref)
        await redis.delete(KEY.format(name=ref))
