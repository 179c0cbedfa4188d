"""What a call is dispatched with, parsed once (`worker.dispatch.read_dispatch`): the inbound
contract (`dialroom.dial.InboundDispatch`) beside the outbound one, random inbound call ids,
rooms named without the caller's number, and the one place a call's outcome is decided."""

from __future__ import annotations

import json
import logging
import re

import pytest

from dialroom.dial import CALL_ID_PATTERN, DialRequest, InboundDispatch
from sip.objects import View, rule_proto
from sip.provision import room_per_call
from worker.call_state import CallState, new_call_state, resolve_outcome
from worker.dispatch import read_dispatch

CALLER = "+15551234567"
DEV_RULE = json.dumps({"persona": "demo", "direction": "inbound"})
# LiveKit's "individual" rule named rooms like this: the caller's number in every log line
OLD_ROOM = f"call-_{CALLER}_SCL_x7Yb2kq9"


def inbound(raw: str | None) -> InboundDispatch:
    dispatch = read_dispatch(raw)
    assert isinstance(dispatch, InboundDispatch)
    return dispatch


def test_each_inbound_call_gets_its_own_random_id_not_its_room() -> None:
    first, second = inbound(DEV_RULE), inbound(DEV_RULE)  # one rule, two calls
    assert first.call_id != second.call_id
    state = new_call_state(first, room=OLD_ROOM, default_persona="other")
    assert state.call_id == first.call_id and re.fullmatch(CALL_ID_PATTERN, state.call_id)
    assert CALLER not in state.call_id and CALLER[2:] not in state.call_id
    assert (state.persona, state.direction, state.room) == ("demo", "inbound", OLD_ROOM)


def test_a_dispatch_made_for_one_call_may_name_its_id() -> None:
    dispatch = inbound(json.dumps({"direction": "inbound", "call_id": "abc-123456"}))
    assert new_call_state(dispatch, room="r", default_persona="demo").call_id == "abc-123456"


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1, 2]",
        json.dumps({"persona": "../../etc/passwd"}),
        json.dumps({"persona": 5}),
        json.dumps({"persona": "demo", "call_id": CALLER}),  # not an id: "+" is refused
        json.dumps({"direction": "sideways"}),
    ],
)
def test_invalid_inbound_metadata_answers_with_the_default_persona(
    raw: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="dialroom.worker"):
        dispatch = inbound(raw)
    state = new_call_state(dispatch, room="r", default_persona="demo")
    assert state.persona == "demo" and re.fullmatch(CALL_ID_PATTERN, state.call_id)
    [line] = [r.getMessage() for r in caplog.records]
    assert "default persona" in line and CALLER not in line


def test_no_metadata_is_a_plain_inbound_call(caplog: pytest.LogCaptureFixture) -> None:
    for raw in (None, ""):
        assert inbound(raw).default_persona("demo") == "demo"
    assert caplog.records == []


def test_an_outbound_dispatch_is_its_dial_request() -> None:
    request = DialRequest(to_number=CALLER, persona="reminder", call_id="c0ffee12", attempt=2)
    assert read_dispatch(request.dispatch_metadata()) == request
    state = new_call_state(request, room=request.room_name, default_persona="demo")
    assert (state.call_id, state.direction, state.attempt) == ("c0ffee12", "outbound", 2)


def test_a_broken_outbound_dispatch_is_refused_without_logging_the_number(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = json.dumps({"to_number": CALLER, "persona": "reminder"})  # no call id
    with caplog.at_level(logging.ERROR, logger="dialroom.worker"):
        assert read_dispatch(raw) is None
    assert "call_id" in caplog.text and CALLER not in caplog.text


def test_rooms_are_named_without_the_caller_s_number() -> None:
    """LiveKit's "callee" rule names the room after the dialled number, plus a random suffix;
    the "individual" rule used the caller's number."""
    dev = room_per_call("call-")
    fields = {
        "trunks": ("main",),
        "room_prefix": "main-",
        "agent_name": "dialroom",
        "default_persona": "demo",
    }
    managed = rule_proto(View("dispatch rule", "main", fields), {"main": "ST_1"}).rule
    for rule in (dev, managed):
        assert rule.WhichOneof("rule") == "dispatch_rule_callee"
        assert rule.dispatch_rule_callee.randomize, "one room per call"
    assert managed.dispatch_rule_callee.room_prefix == "main-"


def state_for(**fields: object) -> CallState:
    return CallState(call_id="c1", persona="demo", direction="inbound", room="r", **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "outcome"),
    [
        ({"close_reason": "participant_disconnected"}, "caller_hung_up"),
        ({"close_reason": "user_initiated"}, "agent_hung_up"),
        ({"close_reason": "error", "outcome_override": "max_duration"}, "max_duration"),
        ({"outcome_override": "lines_busy"}, "lines_busy"),
        ({}, "failed"),  # the job ended before any conversation did
    ],
)
def test_the_outcome_is_decided_in_one_place(fields: dict[str, object], outcome: str) -> None:
    assert resolve_outcome(state_for(**fields)) == outcome
