"""Errors in one shape, FastAPI's own 422 shape: `{"detail": [{"loc", "msg", "type"}]}`.

Every error names where it is (`loc`: body field, header, path parameter), so a client
handles a 401, 409 or 429 the way it handles a validation error.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    detail: list[ErrorItem]


def error_detail(loc: tuple[str | int, ...], msg: str, kind: str) -> list[dict[str, Any]]:
    return [ErrorItem(loc=list(loc), msg=msg, type=kind).model_dump()]


def api_error(
    status_code: int,
    loc: tuple[str | int, ...],
    msg: str,
    kind: str,
    *,
    headers: dict[str, str] | None = None,
) -> HTTPException:
    return HTTPException(status_code, detail=error_detail(loc, msg, kind), headers=headers)


def error_response(
    status_code: int, loc: tuple[str | int, ...], msg: str, kind: str
) -> JSONResponse:
    """The same body from outside a route (middleware), where HTTPException is not handled."""
    return JSONResponse({"detail": error_detail(loc, msg, kind)}, status_code=status_code)


async def plain_http_error(request: Request, exc: Exception) -> Response:
    """Starlette's and FastAPI's own errors (a body that is not UTF-8, an unknown path) carry a
    string detail; give them the same shape as every other error."""
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.detail, list):
        return await http_exception_handler(request, exc)
    loc = ("body",) if exc.status_code == 400 else ("path",)
    response = error_response(exc.status_code, loc, str(exc.detail), "http_error")
    response.headers.update(exc.headers or {})
    return response


RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds until the key may call again",
        "schema": {"type": "string"},
    }
}

# OpenAPI declarations of the errors routes can answer with, by status code.
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body could not be read (not UTF-8)"},
    401: {"model": ErrorBody, "description": "Missing or unknown API key"},
    404: {"model": ErrorBody, "description": "No such call"},
    409: {"model": ErrorBody, "description": "The call is past the point this action needs"},
    413: {"model": ErrorBody, "description": "Request body larger than MAX_BODY_BYTES"},
    429: {"model": ErrorBody, "description": "Rate limit exceeded", "headers": RETRY_AFTER},
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: ERRORS[code] for code in codes}
