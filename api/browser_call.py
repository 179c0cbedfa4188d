"""Starting a browser call: a room with the persona dispatched, and a token for the page.

Both doors use this: `POST /api/personas/{name}/talk` (an API key) and the console's "Talk to
this persona" (a console session and its CSRF token). The room is made and the agent
dispatched here, at once, as the dispatcher does for an outbound call (`dispatcher.dispatch`),
with a `BrowserDispatch` as its metadata; the worker waits in the room for the browser.

The token lets one participant, under the identity the dispatch names, join that one room
and publish its microphone: no data, no camera, no admin. It is short-lived because it only
has to last until the page joins (a joined participant stays in the room after it expires).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import urlsplit

import aiohttp
from livekit import api
from pydantic import BaseModel, Field

from api.settings import ApiSettings
from dialroom.browser_call import BrowserDispatch
from dialroom.persona import available

logger = logging.getLogger("dialroom.api.talk")

TOKEN_TTL = timedelta(minutes=2)
EMPTY_TIMEOUT_S = 60  # a room nobody ever joined closes on its own
DEPARTURE_TIMEOUT_S = 5  # the page left (the agent stays to finish the record): close soon
LIVEKIT_TIMEOUT_S = 10.0


class TalkTicket(BaseModel):
    """What a browser needs to talk to a persona: where LiveKit is and a token for the room."""

    call_id: str = Field(description="The call's id in the call history")
    persona: str
    room: str
    url: str = Field(description="LiveKit's URL, for livekit-client's `room.connect`")
    token: str = Field(description="Lets this participant join this room, for a short time")
    identity: str = Field(description="The browser's identity in the room")
    expires_in_s: int = Field(description="Seconds the token may be used to join")


class UnknownPersona(Exception):
    """No persona file by that name: nothing to talk to."""


class LiveKitUnavailable(Exception):
    """LiveKit did not make the room or the dispatch; a retry may work."""


async def start_talk(settings: ApiSettings, persona: str) -> TalkTicket:
    """Make the call's room, dispatch the persona's agent to it, and return the page's ticket.

    Raises `UnknownPersona` or `LiveKitUnavailable`.
    """
    if persona not in available(settings.agents_dir):
        raise UnknownPersona(persona)
    dispatch = BrowserDispatch(persona=persona)
    await _dispatch(settings, dispatch)
    logger.info(
        "browser call %s: persona %s in room %s", dispatch.call_id, persona, dispatch.room_name
    )
    return TalkTicket(
        call_id=dispatch.call_id,
        persona=persona,
        room=dispatch.room_name,
        url=settings.livekit_url,
        token=browser_token(settings, dispatch),
        identity=dispatch.participant,
        expires_in_s=int(TOKEN_TTL.total_seconds()),
    )


def browser_token(settings: ApiSettings, dispatch: BrowserDispatch) -> str:
    grants = api.VideoGrants(
        room_join=True,
        room=dispatch.room_name,
        can_publish=True,
        can_subscribe=True,
        can_publish_data=False,
        can_publish_sources=["microphone"],
    )
    token = api.AccessToken(settings.livekit_api_key, settings.livekit_api_secret)
    token = token.with_identity(dispatch.participant).with_name("Browser")
    return token.with_grants(grants).with_ttl(TOKEN_TTL).to_jwt()


async def _dispatch(settings: ApiSettings, dispatch: BrowserDispatch) -> None:
    room = api.CreateRoomRequest(
        name=dispatch.room_name,
        empty_timeout=EMPTY_TIMEOUT_S,
        departure_timeout=DEPARTURE_TIMEOUT_S,
    )
    agent = api.CreateAgentDispatchRequest(
        agent_name=settings.agent_name,
        room=dispatch.room_name,
        metadata=dispatch.dispatch_metadata(),
    )
    try:
        async with api.LiveKitAPI(
            url=settings.livekit_url,
            api_key=settings.livekit_api_key,
            api_secret=settings.livekit_api_secret,
            timeout=aiohttp.ClientTimeout(total=LIVEKIT_TIMEOUT_S),
        ) as lk:
            await lk.room.create_room(room)
            await lk.agent_dispatch.create_dispatch(agent)
    except (api.TwirpError, aiohttp.ClientError, OSError, TimeoutError) as err:
        raise LiveKitUnavailable(f"LiveKit did not start the call: {err}") from err


def livekit_origins(url: str) -> list[str]:
    """The origins a page connects to for `url` (its WebSocket, and livekit-client's HTTP
    fallback checks): for the console's Content-Security-Policy `connect-src`."""
    parts = urlsplit(url)
    secure = parts.scheme in ("wss", "https")
    return [
        f"{'wss' if secure else 'ws'}://{parts.netloc}",
        f"{'https' if secure else 'http'}://{parts.netloc}",
    ]
