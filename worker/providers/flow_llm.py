"""`FlowLLM`: the persona's deterministic dialogue behind livekit-agents' LLM interface.

It lets a scripted persona run through the same AgentSession as a model does: same turn
taking, same metrics, and the same tools a model would call: `send_dtmf` to press
keys, `transfer_call` to hand the caller on, `end_call` to hang up.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from livekit.agents import llm
from livekit.agents.llm.tool_context import get_fnc_tool_names
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions

from dialroom.persona import FlowStep
from worker.flow import reply_to

END_CALL_TOOL = "end_call"
SEND_DTMF_TOOL = "send_dtmf"  # worker.tools.dtmf
TRANSFER_TOOL = "transfer_call"  # worker.tools.transfer


class FlowLLM(llm.LLM):
    def __init__(self, *, steps: Sequence[FlowStep]) -> None:
        super().__init__()
        self._steps = tuple(steps)

    @property
    def model(self) -> str:
        return "flow"

    @property
    def provider(self) -> str:
        return "dialroom"

    def chat(  # type: ignore[override]
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        **_: object,
    ) -> llm.LLMStream:
        return _FlowStream(
            self, steps=self._steps, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options
        )


class _FlowStream(llm.LLMStream):
    def __init__(
        self,
        flow_llm: FlowLLM,
        *,
        steps: tuple[FlowStep, ...],
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        conn_options: APIConnectOptions,
    ) -> None:
        super().__init__(flow_llm, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._steps = steps

    async def _run(self) -> None:
        if self._after_tool_output():
            return  # the step's tools ran; the flow has nothing more to say until the caller does
        turns = [m.text_content or "" for m in self._chat_ctx.messages() if m.role == "user"]
        reply = reply_to(self._steps, turns)
        request_id = f"flow-{uuid.uuid4().hex[:8]}"
        if reply.text:
            delta = llm.ChoiceDelta(role="assistant", content=reply.text)
            self._event_ch.send_nowait(llm.ChatChunk(id=request_id, delta=delta))
        calls = [
            (SEND_DTMF_TOOL, {"keys": reply.send_dtmf}, bool(reply.send_dtmf)),
            (TRANSFER_TOOL, {}, reply.transfer),
            (END_CALL_TOOL, {}, reply.end_call),
        ]
        available = get_fnc_tool_names(self._tools)
        for n, (name, args, wanted) in enumerate(calls):
            if wanted and name in available:
                self._call_tool(request_id, f"{request_id}-{n}", name, args)

    def _after_tool_output(self) -> bool:
        items = self._chat_ctx.items
        return bool(items) and items[-1].type == "function_call_output"

    def _call_tool(self, request_id: str, call_id: str, name: str, args: dict[str, object]) -> None:
        call = llm.FunctionToolCall(name=name, arguments=json.dumps(args), call_id=call_id)
        delta = llm.ChoiceDelta(role="assistant", tool_calls=[call])
        self._event_ch.send_nowait(llm.ChatChunk(id=request_id, delta=delta))
