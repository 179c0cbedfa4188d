"""`ToolThenSayLLM`: a scripted LLM (a real `llm.LLM` subclass) for driving an AgentSession.

On a caller turn it calls one function tool with fixed arguments; once the tool's output is
in the chat, it says `Tool said: <output>`. Enough to prove that a tool is called with the
right arguments, what it returns, and that the conversation goes on afterwards.
"""

from __future__ import annotations

from typing import Any

from worker.providers.rule_llm import Reply, RuleLLM


class ToolThenSayLLM(RuleLLM):
    model_name = "tool-then-say"

    def __init__(self, tool: str, arguments: dict[str, Any]) -> None:
        super().__init__()
        self.tool, self.arguments = tool, arguments
        self.calls = 0

    def respond(self, reply: Reply) -> None:
        self.calls += 1
        outputs = [i for i in reply.chat_ctx.items if i.type == "function_call_output"]
        if reply.after_tool_output:
            reply.say(f"Tool said: {outputs[-1].output}")
        else:
            reply.call(self.tool, self.arguments)
