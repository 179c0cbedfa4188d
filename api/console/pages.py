"""What every console page shares: the templates, the signed-in viewer, checked POST forms, and
the headers that keep a page to itself.

Pages are rendered on the server (Jinja2, autoescaped); the only script is htmx, shipped in
`static/` (from the `htmx.org` npm package, version in `static/VERSION`), which refreshes the
live parts. Every page is sent with a Content-Security-Policy that allows this origin's own
scripts only, `no-store` (a shared computer keeps no call in its cache) and no framing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.console import session as sessions
from api.console.session import Session
from api.deps import RedisDep, Settings
from api.errors import error_detail

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
LOGIN = "/console/login"
MAX_FORM_FIELDS = 50

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; media-src 'self'; connect-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _when(at: float | None) -> str:
    if at is None:
        return "-"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["when"] = _when
templates.filters["seconds"] = _seconds


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    viewer: Session | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The template `name`, with the viewer's CSRF token for the page's forms."""
    html = templates.get_template(name).render(
        **context, csrf=viewer.csrf if viewer else None, path=request.url.path
    )
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


class LoginRequired(HTTPException):
    """No valid session: a page goes to the login form; an htmx refresh is told to go there."""

    def __init__(self, request: Request) -> None:
        if request.headers.get("HX-Request"):
            super().__init__(401, detail=_detail("log in again"), headers={"HX-Redirect": LOGIN})
        else:
            super().__init__(303, detail=_detail("log in"), headers={"Location": LOGIN})


async def signed_in(request: Request, settings: Settings, redis: RedisDep) -> Session:
    found = await sessions.read(request, redis, settings.accepted_keys)
    if found is None:
        raise LoginRequired(request)
    return found


Viewer = Annotated[Session, Depends(signed_in)]


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the first value of each); 415 for any other body."""
    media = request.headers.get("content-type", "").split(";")[0].strip()
    if media != "application/x-www-form-urlencoded":
        raise HTTPException(415, detail=_detail("send the console's form", loc="header"))
    try:
        text = (await request.body()).decode()
        fields = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError) as err:
        raise HTTPException(400, detail=_detail("not a readable form", loc="body")) from err
    return {name: values[0] for name, values in fields.items()}


async def checked_form(request: Request, viewer: Viewer) -> dict[str, str]:
    """The form of a signed-in POST, once its CSRF token is the session's; 403 otherwise."""
    form = await read_form(request)
    if not sessions.same_token(form.get("csrf"), viewer.csrf):
        raise HTTPException(403, detail=_detail("missing or wrong CSRF token", kind="csrf"))
    return form


Form = Annotated[dict[str, str], Depends(checked_form)]


def _detail(msg: str, *, loc: str = "cookie", kind: str = "console") -> list[dict[str, Any]]:
    return error_detail((loc,), msg, kind)
