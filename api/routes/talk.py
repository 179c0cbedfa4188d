"""Talk to a persona from a browser: `POST /api/personas/{name}/talk`.

Answers a LiveKit URL and a short-lived token for a room where the persona's agent waits; a
page joins with livekit-client and its microphone (the console's "Talk to this persona" page
does exactly that, `api.console.talk`). The call is recorded like any other, direction
`browser`, with no number.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path

from api.browser_call import LiveKitUnavailable, TalkTicket, UnknownPersona, start_talk
from api.deps import ClientKey, Settings
from api.errors import ErrorBody, api_error, responses
from dialroom.browser_call import PERSONA_PATTERN

router = APIRouter(prefix="/api/personas", tags=["personas"], responses=responses(401, 429))

PersonaName = Annotated[str, Path(pattern=PERSONA_PATTERN, description="A persona's name")]


@router.post(
    "/{name}/talk",
    response_model=TalkTicket,
    status_code=201,
    responses={
        404: {"model": ErrorBody, "description": "No such persona"},
        503: {"model": ErrorBody, "description": "LiveKit did not start the call"},
    },
)
async def talk(name: PersonaName, _key: ClientKey, settings: Settings) -> TalkTicket:
    """Start a browser call with the persona: its agent is dispatched to a new room, and the
    answer carries what livekit-client needs to join it (`url`, `token`)."""
    return await ticket_or_error(settings, name)


async def ticket_or_error(settings: Settings, name: str) -> TalkTicket:
    """`start_talk`, its failures as the API's errors (404, 503)."""
    try:
        return await start_talk(settings, name)
    except UnknownPersona as err:
        raise api_error(404, ("path", "name"), f"no persona `{name}`", "unknown_persona") from err
    except LiveKitUnavailable as err:
        raise _unavailable(str(err)) from err


def _unavailable(msg: str) -> HTTPException:
    return api_error(503, ("body",), msg, "livekit_unavailable", headers={"Retry-After": "5"})
