"""Which caller lines ask not to be called again (the post-call check flow personas rely on)."""

from __future__ import annotations

import pytest

from dialroom.calls import TranscriptLine
from worker.call_state import CallState
from worker.tools.do_not_call import asks_not_to_be_called, caller_asked, their_number

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "text",
    [
        "Don't call me again.",
        "do not call me anymore",
        "Please, dont call me any more!",
        "Never call this number again.",
        "Don\u2019t ever call me again, thanks",
        "Stop calling me.",
        "Can you please remove me from your list?",
        "Take my number off the calling list.",
        "Please take me off your list.",
        "Put me on your do not call list.",
        "Add me to the do-not-call list",
        "I don't want to be called again",
        "We do not want any more calls.",
        "Okay. DON'T CALL US AGAIN.",
    ],
)
def test_these_ask_not_to_be_called(text: str) -> None:
    assert asks_not_to_be_called(text)


@pytest.mark.parametrize(
    "text",
    [
        "Call me again tomorrow, please.",
        "Can you call me back later?",
        "Don't call me before noon.",
        "Don't call me Sam, call me Samuel.",
        "I'd like to come in on Tuesday.",
        "Remove the item from my shopping list",
        "Is my number on your list?",
        "I don't want to miss your calls.",
        "",
    ],
)
def test_these_do_not(text: str) -> None:
    assert not asks_not_to_be_called(text)


def line(role: str, text: str) -> TranscriptLine:
    return TranscriptLine(role=role, text=text, at=0.0)  # type: ignore[arg-type]


def test_only_the_callers_own_lines_count() -> None:
    agent_says_it = [
        line("agent", "If you'd like, say 'don't call me again' and we won't."),
        line("caller", "No, it's fine, call me next week."),
    ]
    assert not caller_asked(agent_says_it)
    caller_says_it = [line("agent", "Hi Sam!"), line("caller", "Stop calling me.")]
    assert caller_asked(caller_says_it)


def test_the_number_listed_is_the_other_partys_and_only_e164() -> None:
    outbound = CallState(
        call_id="c",
        persona="demo",
        direction="outbound",
        room="r",
        caller_number="+14155550100",
        called_number="+14155550123",
    )
    assert their_number(outbound) == "+14155550123"
    inbound = CallState(
        call_id="c",
        persona="demo",
        direction="inbound",
        room="r",
        caller_number="+14155550177",
        called_number="+14155550100",
    )
    assert their_number(inbound) == "+14155550177"
    anonymous = CallState(
        call_id="c", persona="demo", direction="inbound", room="r", caller_number="anonymous"
    )
    assert their_number(anonymous) is None
