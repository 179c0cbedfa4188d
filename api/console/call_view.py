"""What the one-call page shows, worked out from the API's `CallDetail`.

Times in the transcript are given from the call's start (`+12.3 s`), as a listener of the
recording would count them. The player plays the recording the record names through the
console's own route (`api.console.recording`).
"""

from __future__ import annotations

import json
from typing import Any

from api.console.waterfall import waterfall
from api.models import CallDetail


def call_page_context(detail: CallDetail) -> dict[str, Any]:
    record = detail.record
    started = record.started_at if record is not None else None
    turns, scale = waterfall(list(record.turns) if record is not None else [])
    return {
        "call": detail,
        "record": record,
        "duration_s": record.duration_s if record is not None else None,
        "transcript": [
            {"offset": line.at - started if started is not None else None, "line": line}
            for line in (record.transcript if record is not None else [])
        ],
        "turns": turns,
        "scale_s": scale,
        "tool_calls": [
            {"call": tool, "arguments": _as_text(tool.arguments)}
            for tool in (record.tool_calls if record is not None else [])
        ],
        "extracted": {k: _as_text(v) for k, v in (record.extracted if record else {}).items()},
        "recording_src": recording_src(detail),
        "recording": record.recording if record is not None else None,
    }


def recording_src(detail: CallDetail) -> str | None:
    """The console's address of the call's recording, when its record names one."""
    if detail.record is None or detail.record.recording is None:
        return None
    return f"/console/calls/{detail.call_id}/recording"


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
