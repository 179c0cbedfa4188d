"""The browser-call contract: what a worker is handed when someone talks to a persona from a
web page ("Talk to this persona" in the console, or `POST /api/personas/{name}/talk`).

The API writes one `BrowserDispatch` into the agent dispatch of a room it made for the call,
and gives the browser a token for that room under the identity the dispatch names; the worker
parses it once (`worker.dispatch.read_dispatch`) and waits for exactly that participant, a
plain LiveKit participant with no SIP attributes: no caller number, no trunk.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dialroom.dial import CALL_ID_PATTERN, new_call_id

DIRECTION_BROWSER = "browser"
ROOM_PREFIX = "talk-"  # not `call-`: the dispatcher's inbound watch looks only at SIP rooms
PERSONA_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class BrowserDispatch(BaseModel):
    """One browser call: the persona that answers and the browser participant it waits for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    direction: Literal["browser"] = DIRECTION_BROWSER
    persona: str = Field(pattern=PERSONA_PATTERN)
    call_id: str = Field(default_factory=new_call_id, pattern=CALL_ID_PATTERN)

    @property
    def room_name(self) -> str:
        return f"{ROOM_PREFIX}{self.call_id}"

    @property
    def participant(self) -> str:
        """The browser's identity in the room (its token says the same)."""
        return f"browser-{self.call_id}"

    def dispatch_metadata(self) -> str:
        return self.model_dump_json()
