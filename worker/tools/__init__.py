"""The function tools a persona's agent gets, built from its `tools:` section.

Each kind of tool lives in its own module (`end_call`, `http`, `transfer`, `dtmf`, ...);
`tools_for` is the one place that turns a persona into the list handed to the Agent.
"""

from __future__ import annotations

from livekit.agents import llm
from livekit.agents.beta import EndCallTool

from dialroom.persona import Persona
from worker.call_state import CallState
from worker.tools.do_not_call import do_not_call_tool
from worker.tools.dtmf import keypad_tools
from worker.tools.transfer import transfer_tool
from worker.tools.warm_transfer import warm_transfer_tool


def tools_for(persona: Persona, state: CallState) -> list[llm.Tool | llm.Toolset]:
    tools: list[llm.Tool | llm.Toolset] = []
    if persona.tools.end_call:
        tools.append(EndCallTool(end_instructions=None, delete_room=True))
    if state.direction == "outbound":
        tools.append(do_not_call_tool())  # "don't call me again" (flow personas: after_call)
    if persona.tools.transfer is not None and persona.tools.transfer.warm:
        scripted = persona.llm.provider == "flow"
        tools.append(warm_transfer_tool(persona.tools.transfer, scripted=scripted))
    elif persona.tools.transfer is not None:
        tools.append(transfer_tool(persona.tools.transfer))
    if persona.tools.dtmf:
        tools.extend(keypad_tools())
    if persona.tools.http:
        from worker.tools.http import http_tools

        tools.extend(http_tools(persona.tools.http))
    return tools
