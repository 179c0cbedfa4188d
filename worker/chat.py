"""`python start.py chat PERSONA`: talk to a persona in the terminal, text in and text out.

The persona runs in its real AgentSession with its real LLM, prompt, greeting and tools, only
without audio: no STT, TTS or VAD and no room. A fake job context stands in for the call, so
the end-call tool ends the chat the way it ends a call. Scenario files
(`tests/support/scenarios.py`) drive this same session, so what a scenario proves in text mode
is what a person sees here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from livekit.agents import AgentSession, APIError, RunContext, llm, mock_tools, utils
from livekit.agents.llm.tool_context import get_fnc_tool_names
from livekit.agents.testing import fake_job_context
from livekit.agents.voice.run_result import RunEvent
from rich.console import Console
from rich.markup import escape

from dialroom.last_good import CallPersona
from dialroom.paths import AGENTS_DIR, PROMPTS_DIR
from dialroom.persona import SpeechConfig, load_persona, read_prompt
from worker.call_state import CallState
from worker.persona_agent import PersonaAgent, agent_for, call_variables
from worker.providers import ProviderConfigError, build_llm, missing_keys
from worker.settings import ProviderKeys

CANNED_ANSWER = "OK. (canned answer from --mock-tools: nothing was really done)"
KEEP_REAL = frozenset({"end_call"})  # ending the chat is harmless, and scenarios expect it
QUIT = "/quit"


class ChatError(Exception):
    """The conversation cannot go on (its LLM failed); the message says why, in one line."""


@dataclass(frozen=True)
class ToolUse:
    name: str
    arguments: str
    output: str = ""
    is_error: bool = False


@dataclass(frozen=True)
class Reply:
    """What the agent did in answer to one line (or on entering: the greeting), in order:
    each thing it said (a str) and each tool it called."""

    items: tuple[str | ToolUse, ...] = ()

    @property
    def said(self) -> tuple[str, ...]:
        return tuple(item for item in self.items if isinstance(item, str))

    @property
    def tools(self) -> tuple[ToolUse, ...]:
        return tuple(item for item in self.items if isinstance(item, ToolUse))

    @property
    def text(self) -> str:
        return " ".join(self.said)


def reply_from(events: Sequence[RunEvent]) -> Reply:
    items: list[str | ToolUse] = []
    calls: dict[str, int] = {}  # call id -> index in items
    for event in events:
        if event.type == "message" and event.item.role == "assistant":
            if text := event.item.text_content:
                items.append(text)
        elif event.type == "function_call":
            calls[event.item.call_id] = len(items)
            items.append(ToolUse(event.item.name, event.item.arguments))
        elif event.type == "function_call_output" and event.item.call_id in calls:
            index = calls[event.item.call_id]
            call = items[index]
            assert isinstance(call, ToolUse)
            items[index] = ToolUse(
                call.name, call.arguments, event.item.output, event.item.is_error
            )
    return Reply(items=tuple(items))


def load_chat_persona(
    name: str, *, agents_dir: Path = AGENTS_DIR, prompts_dir: Path = PROMPTS_DIR
) -> CallPersona:
    """The persona and its prompt; raises PersonaError, or ProviderConfigError naming the keys
    its LLM needs (speech keys do not matter: a chat has no audio)."""
    persona = load_persona(name, agents_dir=agents_dir, prompts_dir=prompts_dir)
    text_only = SpeechConfig(provider="local")
    if missing := missing_keys(
        persona.model_copy(update={"stt": text_only, "tts": text_only}), ProviderKeys()
    ):
        raise ProviderConfigError(
            f"persona '{name}' (llm.provider {persona.llm.provider}) needs "
            f"{', '.join(missing)}: set them in .env or the environment"
        )
    return CallPersona(persona=persona, prompt=read_prompt(persona, prompts_dir))


def chat_agent(loaded: CallPersona, state: CallState) -> PersonaAgent:
    """The persona's agent as the worker builds it for an inbound call from `chat`."""
    return agent_for(loaded, state, None, call_variables(loaded.persona, state, None))


def canned_mocks(
    tools: Sequence[llm.Tool | llm.Toolset], answers: Mapping[str, str]
) -> dict[str, Callable[[RunContext], str]]:
    """A canned answer for every tool but end_call: `answers[name]`, else CANNED_ANSWER."""

    def canned(answer: str) -> Callable[[RunContext], str]:
        return lambda ctx: answer  # mocks get the RunContext first, then the tool's arguments

    names = [name for name in get_fnc_tool_names(tools) if name not in KEEP_REAL]
    return {name: canned(answers.get(name, CANNED_ANSWER)) for name in names}


class ChatSession:
    """One text conversation: `greet()` once, then `send()` a line at a time until `ended`."""

    def __init__(
        self,
        *,
        agent: PersonaAgent,
        model: llm.LLM,
        state: CallState,
        mocks: Mapping[str, str] | None = None,
    ) -> None:
        self.state = state
        self._agent = agent
        self._session = AgentSession[CallState](llm=model, userdata=state)
        self._session.on("close", lambda _ev: self._closed.set())
        self._closed = asyncio.Event()
        if mocks is not None:
            canned = canned_mocks(agent.tools, mocks)
            mock_tools(type(agent), canned, session=self._session)

    @property
    def model_name(self) -> str:
        return f"LLM ({self._session.llm.provider})" if self._session.llm else "LLM"

    @property
    def ended(self) -> bool:
        """The agent hung up (or the session closed for another reason)."""
        return self._closed.is_set()

    async def greet(self) -> Reply:
        result = await self._session.start(self._agent, capture_run=True)
        await result
        return reply_from(result.events)

    async def send(self, line: str) -> Reply:
        if self.ended:
            raise RuntimeError("the agent has ended this chat")
        result = self._session.run(user_input=line)
        await result
        reply = reply_from(result.events)
        if any(tool.name == "end_call" for tool in reply.tools):
            # the end-call tool closes the session once its turn is done; wait for that
            await asyncio.wait_for(self._closed.wait(), timeout=5.0)
        return reply

    async def aclose(self) -> None:
        await self._session.aclose()


@asynccontextmanager
async def open_chat(
    name: str,
    *,
    mocks: Mapping[str, str] | None = None,
    agents_dir: Path = AGENTS_DIR,
    prompts_dir: Path = PROMPTS_DIR,
) -> AsyncIterator[ChatSession]:
    """A ChatSession for persona `name`; `mocks` (tool name -> answer, {} for the default
    answer) replaces every tool but end_call, None keeps the real tools."""
    loaded = load_chat_persona(name, agents_dir=agents_dir, prompts_dir=prompts_dir)
    state = CallState(
        call_id=f"chat-{uuid.uuid4().hex[:8]}",
        persona=name,
        direction="inbound",
        room="chat",
        caller_number="chat",
    )
    with fake_job_context(job_id=state.call_id):
        async with utils.http_context.open():  # aiohttp-based plugins and tools need one
            chat = ChatSession(
                agent=chat_agent(loaded, state),
                model=build_llm(loaded.persona),
                state=state,
                mocks=mocks,
            )
            try:
                yield chat
            finally:
                await chat.aclose()


def show(console: Console, persona: str, reply: Reply) -> None:
    for item in reply.items:
        if isinstance(item, str):
            console.print(f"[bold cyan]{escape(persona)}:[/] {escape(item)}")
            continue
        output = item.output if len(item.output) <= 200 else item.output[:200] + "…"
        error = " (error)" if item.is_error else ""
        console.print(
            f"  ⚙ {escape(item.name)}({escape(_compact(item.arguments))}) → "
            f"{escape(repr(output))}{error}",
            style="dim",
        )


async def chat_loop(
    name: str,
    console: Console,
    *,
    mocks: Mapping[str, str] | None,
    agents_dir: Path = AGENTS_DIR,
    prompts_dir: Path = PROMPTS_DIR,
) -> None:
    """The terminal conversation: greeting, then a prompt per line until /quit, Ctrl-D or the
    agent hangs up."""
    _log_briefly(console)
    async with open_chat(name, mocks=mocks, agents_dir=agents_dir, prompts_dir=prompts_dir) as chat:
        try:
            show(console, name, await chat.greet())
            while not chat.ended:
                try:
                    line = await asyncio.to_thread(console.input, "[bold]you:[/] ")
                except EOFError:
                    console.print()
                    return
                if line.strip() == QUIT:
                    return
                if line.strip():
                    show(console, name, await chat.send(line))
        except APIError as err:
            raise ChatError(f"{name}'s {chat.model_name} failed: {err.message}") from err
        console.print(f"[dim]{escape(name)} ended the call.[/]")


class _BriefHandler(logging.Handler):
    """Framework warnings (an LLM retrying, a tool failing) as one dim line, no traceback."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.WARNING)
        self._console = console

    def emit(self, record: logging.LogRecord) -> None:
        self._console.print(f"  {escape(record.getMessage())}", style="dim", soft_wrap=True)


def _log_briefly(console: Console) -> None:
    root = logging.getLogger()
    root.handlers[:] = [_BriefHandler(console)]
    root.setLevel(logging.WARNING)


def _compact(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments or "{}"), separators=(",", ":"))
    except json.JSONDecodeError:
        return arguments
