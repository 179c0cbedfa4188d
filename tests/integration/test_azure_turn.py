"""An Azure STT persona's turn ends on Dialroom's VAD and endpointing, with Azure's interim
text, instead of waiting for Azure's final transcript (a second after the caller stops).

A real AgentSession built by `build_session` from a cloud persona: Azure STT is the real Speech
SDK talking to the local fake of Azure's protocol, timed as Azure is (interims every 100 ms
while the caller speaks, the final 1.0 s after they stop); the LLM and TTS are the real OpenAI
and Azure plugins against `FakeCloud`. The caller is a WAV played in real time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from livekit.agents import Agent, ConversationItemAddedEvent, UserStateChangedEvent, utils

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
    llm_asked_at: float  # the last LLM request, the one whose reply is spoken
    llm_heard: str
    azure_final_at: float
    vad_ended_at: float  # the VAD's end of speech: the session flushes the STT
    llm_asks: list[float]  # every LLM request (a preflight's thrown away included)


@pytest.fixture
async def cloud() -> AsyncIterator[FakeCloud]:
    async with FakeCloud(openai_key="sk-good", azure_speech_key="az-good") as fake:
        yield fake


def azure_persona(
    cloud: FakeCloud, azure: AzureSpeechFake, turn: dict[str, object], **stt: object
) -> Persona:
    return Persona.model_validate(
        {
            "name": "azure-turn",
            "stt": {"provider": "azure", "endpoint": azure.endpoint, **stt},
            "llm": {"provider": "openai", "model": "gpt-test", "base_url": cloud.openai_base_url},
            "tts": {"provider": "azure", "endpoint": cloud.azure_tts_endpoint},
            "prompt": "unused.md",
            "greeting": {"inbound": "Hello"},
            "turn": {"min_endpointing_s": 0.4, "detection": "vad", **turn},
        }
    )


async def one_turn(
    cloud: FakeCloud,
    turn: dict[str, object] | None = None,
    final_after_s: float = AZURE_FINAL_AFTER_S,
    **stt: object,
) -> tuple[Turn, AzureSpeechFake]:
    async with AzureSpeechFake(phrase=CALLER_LINES[WAV], final_after_s=final_after_s) as azure:
        persona = azure_persona(cloud, azure, turn or {}, **stt)
        state = CallState(call_id="c1", persona=persona.name, direction="inbound", room="r")
        keys = ProviderKeys(
            azure_speech_key="az-good", azure_speech_region="", openai_api_key="sk-good"
        )
        committed: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        vad_ended: list[float] = []

        def on_user_state(ev: UserStateChangedEvent) -> None:
            if ev.old_state == "speaking" and ev.new_state == "listening":
                vad_ended.append(time.time())

        def on_item(ev: ConversationItemAddedEvent) -> None:
            if getattr(ev.item, "role", None) == "user" and not committed.done():
                committed.set_result(time.time())  # not the item's created_at: a preflight made it

        async with utils.http_context.open():
            session = build_session(persona, state, keys)
            session.input.audio = WavCaller(FIXTURES_DIR / WAV, lead_s=0.5)
            session.output.audio = CapturedAudio()
            session.on("conversation_item_added", on_item)
            session.on("user_state_changed", on_user_state)
            await session.start(Agent(instructions="Be brief."))
            try:
                committed_at = await asyncio.wait_for(committed, 20)  # a hang guard
                # Azure's final still comes: wait for it, to compare
                await eventually(lambda: bool(azure.finals_sent_at and cloud.requests_to("chat")))
            finally:
                await session.aclose()
    asks = cloud.requests_to("chat")
    heard = asks[-1].json["messages"][-1]["content"]
    at = [ask.at for ask in asks]
    turn = Turn(committed_at, at[-1], heard, azure.finals_sent_at[0], vad_ended[0], at)
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


async def test_the_llm_starts_on_the_interim_once_the_caller_is_quiet(cloud: FakeCloud) -> None:
    """The preflight: with a VAD silence of a whole second, the session flushes the STT only
    then, but the LLM is asked on the line's words as soon as the line has been quiet
    `PREFLIGHT_S`, and that request's reply is the one spoken (none is asked after the turn
    ended)."""
    turn, azure = await one_turn(cloud, {"vad_min_silence_s": 1.0})
    assert turn.llm_heard == azure.hypothesis, "the whole line"
    assert turn.llm_asked_at < turn.vad_ended_at, "asked before the VAD's end of speech"
    assert all(at < turn.committed_at for at in turn.llm_asks), "the preflight's reply is used"


async def test_azures_own_final_before_the_turns_end_keeps_the_preflights_reply(
    cloud: FakeCloud,
) -> None:
    """Azure's final (its casing and punctuation) comes 0.5 s into the silence, before the
    VAD's end of speech: it reaches the session in the preflight's wording, so the LLM is not
    asked again on it."""
    turn, azure = await one_turn(cloud, {"vad_min_silence_s": 1.0}, final_after_s=0.5)
    assert turn.azure_final_at < turn.vad_ended_at, "the final came first, as meant"
    assert turn.llm_heard == azure.hypothesis, "the preflight's request is the last"
    assert turn.llm_asked_at < turn.azure_final_at


async def test_without_end_turn_on_interim_the_turn_waits_for_azures_final(
    cloud: FakeCloud,
) -> None:
    turn, azure = await one_turn(cloud, end_turn_on_interim=False, segmentation_silence_ms=800)
    assert turn.committed_at > turn.azure_final_at
    assert turn.llm_heard == CALLER_LINES[WAV]  # Azure's final wording
    assert azure.connections[0].segmentation_silence_ms == 800
