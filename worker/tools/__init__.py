"""The function tools a persona's agent gets, built from its `tools:` section.

Each kind of tool lives in its own module (`end_call`, `http`, `transfer`, `dtmf`, ...);
`tools_for` is the one place that turns a persona into the list handed to the Agent.
"""

from __future__ import annotations

from livekit.agents import llm
from livekit.agents.beta import EndCallTool

from dialroom.persona import Persona
from worker.call_state import CallState


def tools_for(persona: Persona, state: CallState) -> list[llm.Tool | llm.Toolset]:
    tools: list[llm.Tool | llm.Toolset] = []
    if persona.tools.end_call:
        tools.append(EndCallTool(end_instructions=None, delete_room=True))
    return tools
