"""Every query parameter of this API takes one value; a repeated one is a client mistake.

FastAPI quietly keeps the last of `?persona=a&persona=b`, so a client filtering on two
personas would get one without noticing. Refusing it names the parameter instead.
"""

from __future__ import annotations

from fastapi import Request

from api.errors import api_error


async def single_valued_query(request: Request) -> None:
    repeated = sorted({k for k, _ in request.query_params.multi_items() if _count(request, k) > 1})
    if repeated:
        raise api_error(
            422,
            ("query", repeated[0]),
            "given more than once; pass each query parameter once",
            "repeated_query_parameter",
        )


def _count(request: Request, key: str) -> int:
    return len(request.query_params.getlist(key))
