"""`RuleLLM`: the base of Dialroom's model-less LLMs (the `flow` dialogue, the warm-transfer
briefing, the answering-machine words).

Each one answers by rule, but behind livekit-agents' LLM interface, so it runs through the
same AgentSession as a model: same turn taking, same metrics, same tool calls. A subclass
only writes `respond`, which reads the conversation and says text or calls tools.
"""

from __future__ import annotations

import json
import uuid
from abc import abstractmethod

from livekit.agents import llm
from livekit.agents.llm.tool_context import get_fnc_tool_names
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions


class RuleLLM(llm.LLM):
    model_name = "rules"

    @property
    def model(self) -> str:
        return self.model_name

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
        return Reply(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)

    @abstractmethod
    def respond(self, reply: Reply) -> None:
        """Say text (`reply.say`) and/or call tools (`reply.call`) for this turn."""


class Reply(llm.LLMStream):
    """One answer in the making: what the rule sees, and what it can do."""

    def __init__(
        self,
        rule_llm: RuleLLM,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        conn_options: APIConnectOptions,
    ) -> None:
        super().__init__(rule_llm, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._rules = rule_llm
        self._id = f"{rule_llm.model_name}-{uuid.uuid4().hex[:8]}"
        self._calls = 0

    async def _run(self) -> None:
        self._rules.respond(self)

    @property
    def caller_turns(self) -> list[str]:
        return [m.text_content or "" for m in self._chat_ctx.messages() if m.role == "user"]

    @property
    def after_tool_output(self) -> bool:
        """The tools of the last answer just ran (the framework asks again after them)."""
        items = self._chat_ctx.items
        return bool(items) and items[-1].type == "function_call_output"

    def failed(self, tool: str) -> bool:
        """The last tool output is `tool`'s, and an error."""
        items = self._chat_ctx.items
        last = items[-1] if items else None
        return bool(
            last is not None
            and last.type == "function_call_output"
            and last.name == tool
            and last.is_error
        )

    def offers(self, tool: str) -> bool:
        return tool in get_fnc_tool_names(self._tools)

    def say(self, text: str) -> None:
        delta = llm.ChoiceDelta(role="assistant", content=text)
        self._event_ch.send_nowait(llm.ChatChunk(id=self._id, delta=delta))

    def call(self, tool: str, arguments: dict[str, object]) -> None:
        call_id = f"{self._id}-{self._calls}"
        self._calls += 1
        call = llm.FunctionToolCall(name=tool, arguments=json.dumps(arguments), call_id=call_id)
        delta = llm.ChoiceDelta(role="assistant", tool_calls=[call])
        self._event_ch.send_nowait(llm.ChatChunk(id=self._id, delta=delta))
