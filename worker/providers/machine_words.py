"""`MachineWords`: the answering-machine classifier for personas that run without a model.

livekit-agents' AMD decides a short greeting followed by silence ("Hello?") is a human on its
own, from timing. A longer greeting goes to an LLM that must call the tool
`save_prediction(label)`. A persona with an LLM lends it its own model. A `flow` persona has
none, so this stands in: it answers that tool call from the words of the greeting, the phrases
every carrier's voicemail and IVR use, and calls anything else a human.
"""

from __future__ import annotations

import re

from worker.providers.rule_llm import Reply, RuleLLM

SAVE_PREDICTION = "save_prediction"  # the tool livekit's AMD classifier offers

# (label, phrases): the first label with a phrase in the greeting wins.
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "machine-unavailable",
        ("mailbox is full", "not been set up", "hasn't been set up", "cannot accept messages"),
    ),
    ("machine-ivr", ("press one", "press 1", "press two", "press 2", "for english", "menu")),
    (
        "machine-vm",
        (
            "leave a message",
            "leave your message",
            "after the tone",
            "after the beep",
            "voicemail",
            "voice mail",
            "not available",
            "can't take your call",
            "cannot take your call",
            "can't come to the phone",
            "get back to you",
            "call you back",
        ),
    ),
)


def label_for(greeting: str) -> str:
    words = " ".join(re.findall(r"[a-z0-9']+", greeting.lower()))
    for label, phrases in RULES:
        if any(phrase in words for phrase in phrases):
            return label
    return "human"


class MachineWords(RuleLLM):
    model_name = "machine-words"

    def respond(self, reply: Reply) -> None:
        reply.call(SAVE_PREDICTION, {"label": label_for(" ".join(reply.caller_turns))})
