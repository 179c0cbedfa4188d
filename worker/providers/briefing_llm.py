"""`BriefingLLM`: a flow persona's side of a warm transfer, talking to the human it dialled.

An LLM persona briefs the human with its own model (the framework's WarmTransferTask
summarises the call). A flow persona has no model, so this one plays the same part by
rule: the human answers, hears the persona's `transfer.briefing`, and says yes (the
`connect_to_caller` tool joins the caller) or no (`decline_transfer`: the caller resumes).
"""

from __future__ import annotations

import json
import uuid

from livekit.agents import llm
from livekit.agents.llm.tool_context import get_fnc_tool_names
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions

from worker.flow import match_choice

CONNECT_TOOL = "connect_to_caller"  # livekit.agents.beta.workflows.WarmTransferTask
DECLINE_TOOL = "decline_transfer"
YES = ("yes", "yeah", "sure", "okay", "ok", "connect", "put them through", "go ahead")
NO = ("no", "not now", "busy", "can't")
ASK_AGAIN = "Sorry, shall I connect the caller? Please say yes or no."


class BriefingLLM(llm.LLM):
    def __init__(self, *, briefing: str) -> None:
        super().__init__()
        self._briefing = briefing

    @property
    def model(self) -> str:
        return "flow-briefing"

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
        return _BriefingStream(
            self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options
        )

    @property
    def briefing(self) -> str:
        return self._briefing


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


class _BriefingStream(llm.LLMStream):
    async def _run(self) -> None:
        items = self._chat_ctx.items
        if items and items[-1].type == "function_call_output":
            return  # the transfer tool ran; nothing more to say
        turns = [m.text_content or "" for m in self._chat_ctx.messages() if m.role == "user"]
        assert isinstance(self._llm, BriefingLLM)
        text, tool = next_move(self._llm.briefing, turns)
        request_id = f"briefing-{uuid.uuid4().hex[:8]}"
        if text:
            delta = llm.ChoiceDelta(role="assistant", content=text)
            self._event_ch.send_nowait(llm.ChatChunk(id=request_id, delta=delta))
        if tool and tool in get_fnc_tool_names(self._tools):
            args = {"reason": turns[-1]} if tool == DECLINE_TOOL else {}
            call = llm.FunctionToolCall(
                name=tool, arguments=json.dumps(args), call_id=f"{request_id}-0"
            )
            delta = llm.ChoiceDelta(role="assistant", tool_calls=[call])
            self._event_ch.send_nowait(llm.ChatChunk(id=request_id, delta=delta))
