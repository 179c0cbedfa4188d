"""`ToolThenSayLLM`: a scripted LLM (a real `llm.LLM` subclass) for driving an AgentSession.

On a caller turn it calls one function tool with fixed arguments; once the tool's output is
in the chat, it says `Tool said: <output>`. Enough to prove that a tool is called with the
right arguments, what it returns, and that the conversation goes on afterwards.
"""

from __future__ import annotations

import json
from typing import Any

from livekit.agents import llm
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions


class ToolThenSayLLM(llm.LLM):
    def __init__(self, tool: str, arguments: dict[str, Any]) -> None:
        super().__init__()
        self.tool, self.arguments = tool, arguments
        self.calls = 0

    def chat(  # type: ignore[override]
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        **_: object,
    ) -> llm.LLMStream:
        self.calls += 1
        return _Stream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class _Stream(llm.LLMStream):
    async def _run(self) -> None:
        scripted: ToolThenSayLLM = self._llm  # type: ignore[assignment]
        last = self._chat_ctx.items[-1] if self._chat_ctx.items else None
        if last is not None and last.type == "function_call_output":
            delta = llm.ChoiceDelta(role="assistant", content=f"Tool said: {last.output}")
        else:
            call = llm.FunctionToolCall(
                name=scripted.tool,
                arguments=json.dumps(scripted.arguments),
                call_id=f"call-{scripted.calls}",
            )
            delta = llm.ChoiceDelta(role="assistant", tool_calls=[call])
        self._event_ch.send_nowait(llm.ChatChunk(id=f"r{scripted.calls}", delta=delta))
