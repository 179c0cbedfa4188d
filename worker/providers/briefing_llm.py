"""`BriefingLLM`: a flow persona's side of a warm transfer, talking to the human it dialled.

An LLM persona briefs the human with its own model (the framework's WarmTransferTask
summarises the call). A flow persona has no model, so this one plays the same part by
rule: the human answers, hears the persona's `transfer.briefing`, and says yes (the
`connect_to_caller` tool joins the caller) or no (`decline_transfer`: the caller resumes).
"""

from __future__ import annotations

from worker.flow import match_choice
from worker.providers.rule_llm import Reply, RuleLLM

CONNECT_TOOL = "connect_to_caller"  # livekit.agents.beta.workflows.WarmTransferTask
DECLINE_TOOL = "decline_transfer"
YES = ("yes", "yeah", "sure", "okay", "ok", "connect", "put them through", "go ahead")
NO = ("no", "not now", "busy", "can't")
ASK_AGAIN = "Sorry, shall I connect the caller? Please say yes or no."


class BriefingLLM(RuleLLM):
    model_name = "flow-briefing"

    def __init__(self, *, briefing: str) -> None:
        super().__init__()
        self._briefing = briefing

    @property
    def briefing(self) -> str:
        return self._briefing

    def respond(self, reply: Reply) -> None:
        if reply.after_tool_output:
            return  # the transfer tool ran; nothing more to say
        turns = reply.caller_turns
        text, tool = next_move(self._briefing, turns)
        if text:
            reply.say(text)
        if tool and reply.offers(tool):
            reply.call(tool, {"reason": turns[-1]} if tool == DECLINE_TOOL else {})


def next_move(briefing: str, human_turns: list[str]) -> tuple[str, str | None]:
    """(what to say, tool to call) after the human's latest turn."""
    if len(human_turns) <= 1:
        return briefing, None  # the human answered the phone: brief them
    last = human_turns[-1]
    if match_choice(last, YES):
        return "", CONNECT_TOOL
    if match_choice(last, NO):
        return "", DECLINE_TOOL
    return ASK_AGAIN, None
