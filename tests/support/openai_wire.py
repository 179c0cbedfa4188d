"""OpenAI's chat-completions wire format, as the local fake cloud answers it: streamed chunks
(text word by word, or one tool call), the final usage chunk, or one whole completion."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolCallReply:
    """A scripted chat answer that calls a function tool instead of speaking."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


def echo(messages: list[dict[str, Any]]) -> str:
    users = [m for m in messages if m.get("role") == "user"]
    content = users[-1].get("content", "") if users else ""
    if isinstance(content, list):  # content parts
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return f"You said: {content}" if content else "Hello!"


def chat_chunks(step: str | ToolCallReply, *, model: str) -> list[dict[str, Any]]:
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time())}
    base["model"] = model

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    if isinstance(step, ToolCallReply):
        call = {
            "index": 0,
            "id": "call_fake_1",
            "type": "function",
            "function": {"name": step.name, "arguments": json.dumps(step.arguments)},
        }
        return [chunk({"role": "assistant", "tool_calls": [call]}), chunk({}, "tool_calls")]
    words = re.findall(r"\S+\s*", step) or [""]
    first = [chunk({"role": "assistant", "content": words[0]})]
    return first + [chunk({"content": w}) for w in words[1:]] + [chunk({}, "stop")]


def usage_chunk(body: dict[str, Any], step: str | ToolCallReply, *, model: str) -> dict[str, Any]:
    prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    completion = len(step.split()) if isinstance(step, str) else 10
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    usage["total_tokens"] = prompt + completion
    return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
            "model": model, "choices": [], "usage": usage}  # fmt: skip


def whole_completion(step: str | ToolCallReply, *, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if isinstance(step, ToolCallReply):
        message["tool_calls"] = [
            {
                "id": "call_fake_1",
                "type": "function",
                "function": {"name": step.name, "arguments": json.dumps(step.arguments)},
            }
        ]
    else:
        message["content"] = step
    finish = "tool_calls" if isinstance(step, ToolCallReply) else "stop"
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
