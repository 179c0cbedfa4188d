"""An Azure STT persona's turn ends on Dialroom's VAD and endpointing, with Azure's interim
text, instead of waiting for Azure's final transcript (a second after the caller stops).

A real AgentSession built by `build_session` from a cloud persona: Azure STT is the real Speech
SDK talking to the local fake of Azure's protocol, timed as Azure is (interims every 100 ms
while the caller speaks, the final 1.0 s after they stop); the LLM and TTS are the real OpenAI
and Azure plugins against `FakeCloud`. The caller is a WAV played in real time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from livekit.agents import Agent, ConversationItemAddedEvent, utils

from dialroom.persona import Persona
from tests.support.azure_speech_fake import AzureSpeechFake
from tests.support.captured_audio import CapturedAudio, WavCaller
from tests.support.cloud_fakes import FakeCloud
from tests.support.fixtures import CALLER_LINES, FIXTURES_DIR
from worker.call_state import CallState
from worker.session import build_session
from worker.settings import ProviderKeys

pytestmark = pytest.mark.integration

WAV = "caller_tuesday.wav"
AZURE_FINAL_AFTER_S = 1.0


@dataclass
class Turn:
    committed_at: float  # the caller's message entered the chat: the turn ended
    llm_asked_at: float
    llm_heard: str
    azure_final_at: float


@pytest.fixture
async def cloud() -> AsyncIterator[FakeCloud]:
    async with FakeCloud(openai_key="sk-good", azure_speech_key="az-good") as fake:
        yield fake


def azure_persona(cloud: FakeCloud, azure: AzureSpeechFake, **stt: object) -> Persona:
    return Persona.model_validate(
        {
            "name": "azure-turn",
            "stt": {"provider": "azure", "endpoint": azure.endpoint, **stt},
            "llm": {"provider": "openai", "model": "gpt-test", "base_url": cloud.openai_base_url},
            "tts": {"provider": "azure", "endpoint": cloud.azure_tts_endpoint},
            "prompt": "unused.md",
            "greeting": {"inbound": "Hello"},
            "turn": {"min_endpointing_s": 0.4, "detection": "vad"},
        }
    )


async def one_turn(cloud: FakeCloud, **stt: object) -> tuple[Turn, AzureSpeechFake]:
    async with AzureSpeechFake(
        phrase=CALLER_LINES[WAV], final_after_s=AZURE_FINAL_AFTER_S
    ) as azure:
        persona = azure_persona(cloud, azure, **stt)
        state = CallState(call_id="c1", persona=persona.name, direction="inbound", room="r")
        keys = ProviderKeys(
            azure_speech_key="az-good", azure_speech_region="", openai_api_key="sk-good"
        )
        committed: asyncio.Future[float] = asyncio.get_running_loop().create_future()

        def on_item(ev: ConversationItemAddedEvent) -> None:
            if getattr(ev.item, "role", None) == "user" and not committed.done():
                committed.set_result(ev.item.created_at)  # type: ignore[union-attr]

        async with utils.http_context.open():
            session = build_session(persona, state, keys)
            session.input.audio = WavCaller(FIXTURES_DIR / WAV, lead_s=0.5)
            session.output.audio = CapturedAudio()
            session.on("conversation_item_added", on_item)
            await session.start(Agent(instructions="Be brief."))
            try:
                committed_at = await asyncio.wait_for(committed, 20)  # a hang guard
                # Azure's final still comes: wait for it, to compare
                await eventually(lambda: bool(azure.finals_sent_at and cloud.requests_to("chat")))
            finally:
                await session.aclose()
    asked = cloud.requests_to("chat")[0]
    heard = asked.json["messages"][-1]["content"]
    turn = Turn(committed_at, asked.at, heard, azure.finals_sent_at[0])
    return turn, azure


async def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout_s} s")


async def test_the_turn_ends_and_the_llm_is_asked_before_azures_final(cloud: FakeCloud) -> None:
    turn, azure = await one_turn(cloud)
    assert turn.committed_at < turn.azure_final_at, "the turn waited for Azure's final"
    assert turn.llm_asked_at < turn.azure_final_at
    assert turn.llm_heard == azure.hypothesis  # Azure's interim words: the whole line
    (connection,) = azure.connections
    assert connection.segmentation_silence_ms == 300  # the persona default reaches Azure


async def test_without_end_turn_on_interim_the_turn_waits_for_azures_final(
    cloud: FakeCloud,
) -> None:
    turn, azure = await one_turn(cloud, end_turn_on_interim=False, segmentation_silence_ms=800)
    assert turn.committed_at > turn.azure_final_at
    assert turn.llm_heard == CALLER_LINES[WAV]  # Azure's final wording
    assert azure.connections[0].segmentation_silence_ms == 800
