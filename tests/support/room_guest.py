"""A participant in a room of a real livekit-server, in a process of its own, so that a test
can kill it together with the server and leave a room with someone in it behind.

    python -m tests.support.room_guest ws://127.0.0.1:7880 call-room   # prints "joined"
"""

from __future__ import annotations

import asyncio
import sys

from livekit import api, rtc

from dialroom.settings import DEV_API_KEY, DEV_API_SECRET

JOINED = "joined"


def room_token(room: str, identity: str, *, agent: bool = False) -> str:
    """A dev-key token to join `room` as `identity` (an agent's, with `agent`)."""
    grants = api.VideoGrants(room_join=True, room=room, agent=agent)
    token = api.AccessToken(DEV_API_KEY, DEV_API_SECRET).with_identity(identity)
    return token.with_grants(grants).to_jwt()


async def stay(url: str, room: str) -> None:
    joined = rtc.Room()
    await joined.connect(url, room_token(room, f"guest-{room}"))
    print(JOINED, flush=True)
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(stay(sys.argv[1], sys.argv[2]))
