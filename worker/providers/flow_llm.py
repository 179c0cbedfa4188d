"""`FlowLLM`: the persona's deterministic dialogue behind livekit-agents' LLM interface.

It lets a scripted persona run through the same AgentSession as a model does: same turn
taking, same metrics, and the same tools a model would call: `send_dtmf` to press
keys, `transfer_call` to hand the caller on, `end_call` to hang up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dialroom.persona import FlowStep
from worker.flow import reply_to
from worker.providers.rule_llm import Reply, RuleLLM

END_CALL_TOOL = "end_call"
SEND_DTMF_TOOL = "send_dtmf"  # worker.tools.dtmf
TRANSFER_TOOL = "transfer_call"  # worker.tools.transfer
HANDOFF_TOOL_PREFIX = "handoff_to_"  # worker.handoff: one tool per persona handed to


def handoff_tool(persona: str) -> str:
    """The tool that hands the caller to `persona` (a tool name has no `-`)."""
    return HANDOFF_TOOL_PREFIX + persona.replace("-", "_")


class FlowLLM(RuleLLM):
    model_name = "flow"

    def __init__(
        self,
        *,
        steps: Sequence[FlowStep],
        unavailable: str = "",
        variables: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self._steps = tuple(steps)
        self._unavailable = unavailable  # said when a transfer fails; then the call ends
        self._variables = variables or {}  # the call's {variables} for `say` steps

    def respond(self, reply: Reply) -> None:
        if reply.after_tool_output:
            # The step's tools ran; the flow has nothing more to say until the caller does,
            # unless the transfer failed: the caller would be left in silence.
            if reply.failed(TRANSFER_TOOL) and self._unavailable:
                reply.say(self._unavailable)
                if reply.offers(END_CALL_TOOL):
                    reply.call(END_CALL_TOOL, {})
            return
        said = reply_to(self._steps, reply.caller_turns, self._variables)
        if said.text:
            reply.say(said.text)
        calls = [
            (SEND_DTMF_TOOL, {"keys": said.send_dtmf}, bool(said.send_dtmf)),
            (TRANSFER_TOOL, {}, said.transfer),
            (handoff_tool(said.handoff or ""), {}, said.handoff is not None),
            (END_CALL_TOOL, {}, said.end_call),
        ]
        for name, args, wanted in calls:
            if wanted and reply.offers(name):
                reply.call(name, args)
