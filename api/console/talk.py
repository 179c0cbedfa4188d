"""The console's "Talk to this persona" page: a browser call with the microphone.

`GET /console/personas/{name}/talk` is the page; its button posts the session's CSRF token to
`POST /console/personas/{name}/talk`, which starts the call as the API's own route does
(`api.browser_call.start_talk`) and answers the LiveKit URL and token as JSON. The page's
script (`static/talk.js`) joins the room with livekit-client, publishes the microphone and
plays the persona. livekit-client is the npm package's UMD build, shipped in
`static/vendor/` (version in `static/vendor/VERSION`): nothing is fetched at run time.

The page's Content-Security-Policy is the console's, with LiveKit's origin added to
`connect-src` (the WebSocket livekit-client opens); media flows over WebRTC, which CSP does
not govern.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import FileResponse, HTMLResponse

from api.browser_call import TalkTicket, livekit_origins
from api.console.pages import HEADERS, STATIC, Form, Viewer, templates
from api.deps import Settings
from api.routes.talk import ticket_or_error
from dialroom.browser_call import PERSONA_PATTERN

router = APIRouter()

PersonaName = Annotated[str, Path(pattern=PERSONA_PATTERN)]
ASSETS = {
    "talk.js": STATIC / "talk.js",
    "livekit-client.umd.js": STATIC / "vendor" / "livekit-client.umd.js",
}
AssetName = Literal["talk.js", "livekit-client.umd.js"]


@router.get("/personas/{name}/talk")
async def talk_page(
    request: Request, name: PersonaName, viewer: Viewer, settings: Settings
) -> HTMLResponse:
    html = templates.get_template("talk.html").render(
        persona=name, csrf=viewer.csrf, path=request.url.path
    )
    return HTMLResponse(html, headers=page_headers(settings.livekit_url))


@router.post("/personas/{name}/talk", response_model=TalkTicket, status_code=201)
async def start_talk(name: PersonaName, _form: Form, settings: Settings) -> TalkTicket:
    """The page's "Start": a signed-in session with its CSRF token, like every console POST."""
    return await ticket_or_error(settings, name)


@router.get("/talk-assets/{name}")
async def talk_asset(name: AssetName) -> FileResponse:
    headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    return FileResponse(ASSETS[name], media_type="text/javascript", headers=headers)


def page_headers(livekit_url: str) -> dict[str, str]:
    """The console's headers, its CSP letting the page reach LiveKit as well."""
    origins = livekit_origins(livekit_url)
    directives = [d.strip() for d in HEADERS["Content-Security-Policy"].split(";") if d.strip()]
    if not any(d.startswith("connect-src ") for d in directives):
        directives.append("connect-src 'self'")
    csp = "; ".join(
        " ".join([d, *origins]) if d.startswith("connect-src ") else d for d in directives
    )
    return {**HEADERS, "Content-Security-Policy": csp}
