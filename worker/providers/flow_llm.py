"""`FlowLLM`: the persona's deterministic dialogue behind livekit-agents' LLM interface.

It lets a scripted persona run through the same AgentSession as a model does: same turn
taking, same metrics, and the same tools a model would call: `send_dtmf` to press
keys, `transfer_call` to hand the caller on, `end_call` to hang up.
"""

from __future__ import annotations

from collections.abc import Sequence

from dialroom.persona import FlowStep
from worker.flow import reply_to
from worker.providers.rule_llm import Reply, RuleLLM

END_CALL_TOOL = "end_call"
SEND_DTMF_TOOL = "send_dtmf"  # worker.tools.dtmf
TRANSFER_TOOL = "transfer_call"  # worker.tools.transfer


class FlowLLM(RuleLLM):
    model_name = "flow"

    def __init__(self, *, steps: Sequence[FlowStep]) -> None:
        super().__init__()
        self._steps = tuple(steps)

    def respond(self, reply: Reply) -> None:
        if reply.after_tool_output:
            return  # the step's tools ran; the flow has nothing more to say until the caller does
        said = reply_to(self._steps, reply.caller_turns)
        if said.text:
            reply.say(said.text)
        calls = [
            (SEND_DTMF_TOOL, {"keys": said.send_dtmf}, bool(said.send_dtmf)),
            (TRANSFER_TOOL, {}, said.transfer),
            (END_CALL_TOOL, {}, said.end_call),
        ]
        for name, args, wanted in calls:
            if wanted and reply.offers(name):
                reply.call(name, args)
