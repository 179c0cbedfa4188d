"""A deterministic dialogue: the persona's `flow:` steps replayed over what the caller said.

The reply is a pure function of the caller's turns so far (and the call's variables).
Replaying from the start (instead of keeping a cursor) keeps the answer right when the
framework asks twice for the same turn.
"""

from __future__ import annotations

import itertools
import re
from collections import ChainMap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dialroom.persona import FlowStep
from dialroom.templates import fill, names

_WORD = re.compile(r"[a-z0-9']+")
MAX_FILLED = 64  # answers' combinations `known_replies` fills in per question


@dataclass(frozen=True)
class FlowReply:
    text: str
    end_call: bool = False
    slots: dict[str, str] = field(default_factory=dict)
    transfer: bool = False  # hand the caller on once `text` is said
    send_dtmf: str = ""  # keys to press once `text` is said
    handoff: str | None = None  # the persona that takes the call once `text` is said


def reply_to(
    steps: Sequence[FlowStep],
    caller_turns: Sequence[str],
    variables: Mapping[str, str] | None = None,
) -> FlowReply:
    """What the persona says after the last of `caller_turns`.

    A `say` step is filled with the call's `variables` and the slots collected so far.
    """
    slots: dict[str, str] = {}
    position = 0
    reply = FlowReply(text="")
    for turn in caller_turns:
        if position >= len(steps):
            return FlowReply(text="", end_call=True, slots=slots)
        step = steps[position]
        choice = match_choice(turn, step.choices)
        if choice is None:
            reply = FlowReply(text=step.retry, slots=dict(slots))
            continue
        slots[step.collect or ""] = choice
        position, reply = _speak_until_next_question(steps, position + 1, variables or {}, slots)
    return reply


def match_choice(text: str, choices: Sequence[str]) -> str | None:
    """The first choice whose words appear, in order, in what was said."""
    words = _WORD.findall(text.lower())
    for choice in choices:
        wanted = _WORD.findall(choice.lower())
        if any(words[i : i + len(wanted)] == wanted for i in range(len(words))):
            return choice
    return None


def _speak_until_next_question(
    steps: Sequence[FlowStep], position: int, variables: Mapping[str, str], slots: dict[str, str]
) -> tuple[int, FlowReply]:
    said: list[str] = []
    known = ChainMap(slots, variables)  # a slot wins over a call variable of the same name
    end_call = transfer = False
    keys = ""
    handoff: str | None = None
    while position < len(steps) and steps[position].collect is None:
        step = steps[position]
        said.append(fill(step.say or "", known))
        keys += step.send_dtmf or ""
        position += 1
        if step.end_call or step.transfer or step.handoff:  # this flow's part is over
            end_call, transfer, handoff = step.end_call, step.transfer, step.handoff
            position = len(steps)
    reply = FlowReply(
        text=" ".join(said),
        end_call=end_call,
        slots=dict(slots),
        transfer=transfer,
        send_dtmf=keys,
        handoff=handoff,
    )
    return position, reply


def known_replies(steps: Sequence[FlowStep]) -> list[str]:
    """Every reply `reply_to` gives whatever the call's variables: each question's retry, and
    what follows each answer, filled with every combination of the answers it names (at most
    `MAX_FILLED` per question). A reply naming a call variable is left out: its text is the
    call's."""
    replies: list[str] = []
    answers: dict[str, tuple[str, ...]] = {}
    for position, step in enumerate(steps):
        if step.collect is None:
            continue
        replies.append(step.retry)
        answers[step.collect] = step.choices
        named = sorted(_names_said(steps, position + 1))
        if not set(named) <= answers.keys():
            continue
        combinations = itertools.product(*(answers[name] for name in named))
        for combination in itertools.islice(combinations, MAX_FILLED):
            slots = dict(zip(named, combination, strict=True))
            replies.append(_speak_until_next_question(steps, position + 1, {}, slots)[1].text)
    return [reply for reply in dict.fromkeys(replies) if reply]


def _names_said(steps: Sequence[FlowStep], position: int) -> set[str]:
    """The `{names}` of the `say` steps spoken from `position` to the next question."""
    named: set[str] = set()
    for step in steps[position:]:
        if step.collect is not None:
            break
        named |= names(step.say or "")
        if step.end_call or step.transfer or step.handoff:
            break
    return named
