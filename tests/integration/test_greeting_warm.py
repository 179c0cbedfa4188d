"""The greetings a worker renders when it starts are the ones its calls play: a cloud persona
(the real Azure TTS plugin, pointed at the local `FakeCloud`) is rendered by the worker's
start-up process (`warm_in_background`), and a call built as `worker.prepare` builds it then
greets without a single TTS request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from livekit.agents import ConversationItemAddedEvent, utils

from dialroom.persona import load_persona
from tests.support.captured_audio import CapturedAudio
from tests.support.cloud_fakes import FakeCloud
from worker.call_state import CallState
from worker.greeting_cache import warm_in_background
from worker.persona_agent import PersonaAgent
from worker.session import build_session
from worker.settings import ProviderKeys

pytestmark = pytest.mark.integration

GREETING = "Thanks for calling the cloudy line. How can I help?"


@pytest.fixture
async def cloud() -> AsyncIterator[FakeCloud]:
    async with FakeCloud(openai_key="sk-good", azure_speech_key="az-good") as fake:
        yield fake


def write_persona(folder: Path, cloud: FakeCloud) -> tuple[Path, Path]:
    agents, prompts = folder / "agents", folder / "prompts"
    agents.mkdir()
    prompts.mkdir()
    (prompts / "p.md").write_text("Be brief.")
    (agents / "cloudy.yaml").write_text(
        f"""\
stt: {{provider: local}}
llm: {{provider: openai, model: m, base_url: "{cloud.openai_base_url}"}}
tts: {{provider: azure, voice: en-US-AvaNeural, endpoint: "{cloud.azure_tts_endpoint}"}}
prompt: p.md
greeting:
  inbound: "{GREETING}"
  outbound: "Hi {{caller_name}}, it's the cloudy line."
"""
    )
    return agents, prompts


async def test_a_call_plays_the_greeting_the_worker_rendered_at_start(
    cloud: FakeCloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_SPEECH_KEY", "az-good")  # the start-up process reads it
    agents, prompts = write_persona(tmp_path, cloud)
    root = tmp_path / "greetings"
    await asyncio.to_thread(warm_in_background(root, agents, prompts).join, 60)
    rendered = [r.ssml_text for r in cloud.requests_to("tts")]
    assert " ".join(rendered) == GREETING, (
        "the inbound greeting is rendered; the outbound one has the callee's name in it"
    )

    persona = load_persona("cloudy", agents_dir=agents, prompts_dir=prompts)
    state = CallState(call_id="c1", persona="cloudy", direction="inbound", room="r")
    keys = ProviderKeys(azure_speech_key="az-good")
    async with utils.http_context.open():
        session = build_session(persona, state, keys)
        agent = PersonaAgent(
            persona, state, instructions="Be brief.", greeting=GREETING, greeting_cacheable=True
        )
        agent.prefetch_greeting(session, persona=persona, cache_root=root)
        audio = CapturedAudio()
        session.output.audio = audio
        said = asyncio.Event()

        def on_item(ev: ConversationItemAddedEvent) -> None:
            if getattr(ev.item, "role", None) == "assistant":
                said.set()

        session.on("conversation_item_added", on_item)
        await session.start(agent)
        try:
            await asyncio.wait_for(said.wait(), 30)  # a hang guard, not a speed check
        finally:
            await session.aclose()
    assert len(cloud.requests_to("tts")) == len(rendered), "the call asked Azure nothing"
    assert agent.greeting_audio is not None and agent.greeting_audio.source == "cache"
    assert audio.seconds > 1.0, "and the caller heard the greeting"
