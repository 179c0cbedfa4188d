"""The worker's record of a check call, read through the stack's API: the tools the agent
called live only there. Found by the caller number the phone called from, which is random
per check, among the inbound calls the API lists."""

from __future__ import annotations

import bisect
import time
from collections.abc import Sequence
from typing import Any

import httpx

from callcheck.scenario import ScenarioError


def fetch_record(
    api_url: str, api_key: str, caller: str, *, timeout: float = 20.0
) -> dict[str, Any]:
    """The record of the one finished inbound call from `caller` (the worker writes it as the
    call ends, which can be a moment after the phone hung up)."""
    deadline = time.monotonic() + timeout
    headers = {"X-API-Key": api_key}
    query = {"direction": "inbound", "number": caller[-8:], "limit": 5}
    with httpx.Client(base_url=api_url, headers=headers, timeout=10) as client:
        while time.monotonic() < deadline:
            page = _get(client, "/api/calls", query)
            ended = [c for c in page["calls"] if c.get("outcome")]
            if ended:
                detail = _get(client, f"/api/calls/{ended[0]['call_id']}", {})
                if detail.get("record"):
                    return detail["record"]
            time.sleep(0.5)
    raise ScenarioError(f"the API at {api_url} shows no finished call from {caller}")


def _get(client: httpx.Client, path: str, params: dict[str, Any]) -> dict[str, Any]:
    try:
        response = client.get(path, params=params)
    except httpx.HTTPError as err:
        raise ScenarioError(f"the API at {client.base_url} cannot be reached: {err}") from err
    if response.status_code == 401:
        raise ScenarioError("the API refused the key: set CHECK_CALL_API_KEY to one of API_KEYS")
    response.raise_for_status()
    return response.json()


def tool_calls_by_line(
    record: dict[str, Any], line_starts: Sequence[float]
) -> list[tuple[str, ...]] | None:
    """The record's tool calls, grouped by the caller line they followed; None when the record
    keeps no tool calls."""
    if "tool_calls" not in record:
        return None
    per_line: list[list[str]] = [[] for _ in line_starts]
    for tool in record["tool_calls"]:
        line = bisect.bisect_right(line_starts, tool["at"]) - 1
        if line >= 0:
            per_line[line].append(tool["name"])
    return [tuple(names) for names in per_line]
