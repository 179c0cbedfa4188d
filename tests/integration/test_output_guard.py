"""The output guard (persona `guard:`) on a real AgentSession: the persona's own agent, a
scripted LLM that writes a banned sentence (split across stream chunks), and a TTS that keeps
every text it is handed. The banned sentence must never reach the TTS; the replacement must,
the sentences around it must be spoken as written, the call record must carry the event
(rule and matched words, not the sentence) and a transcript that matches what was spoken."""

from __future__ import annotations

from typing import Any

import pytest
from livekit.agents import AgentSession, ConversationItemAddedEvent

from dialroom.persona import Persona
from tests.support.captured_audio import CapturedAudio
from tests.support.recording_tts import RecordingTTS
from worker.call_state import CallState
from worker.guard_judge import JUDGE_MARK
from worker.persona_agent import PersonaAgent
from worker.providers.rule_llm import Reply, RuleLLM

pytestmark = pytest.mark.integration

GREETING = "Hello, this is the savings desk."
REPLACEMENT = "I can't promise anything about returns."
BANNED_CHUNKS = [
    "Happy to help. Our plan is guaran",
    "teed to double your",
    " money! Anything else?",
]


class BoastingLLM(RuleLLM):
    """Answers every caller turn with the banned sentence between two harmless ones."""

    model_name = "boasting"

    def respond(self, reply: Reply) -> None:
        for chunk in BANNED_CHUNKS:
            reply.say(chunk)


def guarded_persona(**guard: Any) -> Persona:
    return Persona.model_validate(
        {
            "name": "savings",
            "stt": {"provider": "local"},
            "llm": {"provider": "openai"},
            "tts": {"provider": "local"},
            "prompt": "unused.md",
            "greeting": {"inbound": GREETING},
            "guard": {"banned": ["/guarantee[sd]?/", "double your money"], **guard},
        }
    )


async def converse(persona: Persona, *, audio: bool) -> tuple[CallState, RecordingTTS, Any]:
    """Greet, then one caller turn; the state, the TTS and the turn's RunResult."""
    state = CallState(call_id="guard-call", persona=persona.name, direction="inbound", room="r")
    voice = RecordingTTS()
    session = AgentSession[CallState](llm=BoastingLLM(), tts=voice, userdata=state)
    if audio:
        session.output.audio = CapturedAudio()

    def heard(ev: ConversationItemAddedEvent) -> None:  # as worker.server records the transcript
        if getattr(ev.item, "type", None) == "message":
            state.heard(ev.item.role, ev.item.text_content or "")  # type: ignore[union-attr]

    session.on("conversation_item_added", heard)
    async with session:
        agent = PersonaAgent(persona, state, instructions="Savings desk.", greeting=GREETING)
        await session.start(agent)
        result = await session.run(user_input="Will I get rich with you?")
    return state, voice, result


async def test_a_banned_sentence_is_never_spoken_and_is_recorded() -> None:
    state, voice, result = await converse(guarded_persona(replace_with=REPLACEMENT), audio=True)

    assert "guarant" not in voice.spoken.lower() and "double" not in voice.spoken.lower()
    assert voice.spoken == f"{GREETING} Happy to help. {REPLACEMENT} Anything else?"
    said = f"Happy to help. {REPLACEMENT} Anything else?"
    reply = result.expect.next_event().is_message(role="assistant").event().item
    assert reply.text_content == said  # the LLM's own history: what was spoken
    assert [line.text for line in state.transcript if line.role == "agent"] == [GREETING, said]
    [event] = state.record().guard_events
    assert (event.turn, event.rule, event.matched) == (2, "/guarantee[sd]?/", "guaranteed")
    assert event.replaced_with == REPLACEMENT


async def test_without_audio_the_transcript_is_still_guarded() -> None:
    state, voice, result = await converse(guarded_persona(), audio=False)

    assert voice.texts == []  # text only: nothing synthesized at all
    said = "Happy to help. Sorry, I can't help with that. Anything else?"
    reply = result.expect.next_event().is_message(role="assistant").event().item
    assert reply.text_content == said
    assert state.transcript[-1].text == said
    assert [e.rule for e in state.guard_events] == ["/guarantee[sd]?/"]


async def test_a_persona_without_a_guard_speaks_the_sentence() -> None:
    """The control: the same call without `guard:` says it all, and records nothing."""
    persona = guarded_persona().model_copy(update={"guard": None})
    state, voice, _ = await converse(persona, audio=True)

    assert "guaranteed to double your money!" in voice.spoken
    assert state.guard_events == []


class AdvisingLLM(RuleLLM):
    """The persona's model in both roles: in the conversation it gives medical advice between
    two harmless sentences; asked as the guard's judge, it blocks exactly that sentence."""

    model_name = "advising"

    def __init__(self) -> None:
        super().__init__()
        self.judged: list[str] = []

    def respond(self, reply: Reply) -> None:
        system = [m.text_content or "" for m in reply._chat_ctx.messages() if m.role == "system"]
        if system and system[0].startswith(JUDGE_MARK):
            sentence = reply.caller_turns[-1]
            self.judged.append(sentence)
            reply.say("BLOCK: medical advice" if "pills" in sentence else "ALLOW")
        else:
            reply.say("Thanks for asking. You can stop taking your pills today. Bye for now!")


async def test_the_judge_replaces_a_sentence_the_rules_let_through() -> None:
    persona = guarded_persona(judge=True, policy="No medical advice.")
    state = CallState(call_id="judge-call", persona=persona.name, direction="inbound", room="r")
    voice, model = RecordingTTS(), AdvisingLLM()
    session = AgentSession[CallState](llm=model, tts=voice, userdata=state)
    session.output.audio = CapturedAudio()
    async with session:
        await session.start(PersonaAgent(persona, state, instructions="Desk.", greeting=GREETING))
        result = await session.run(user_input="Should I keep taking my pills?")

    assert "pills" not in voice.spoken
    said = "Thanks for asking. Sorry, I can't help with that. Bye for now!"
    assert voice.spoken == f"{GREETING} {said}"
    reply = result.expect.next_event().is_message(role="assistant").event().item
    assert reply.text_content == said
    [event] = state.guard_events
    assert (event.rule, event.matched) == ("judge", "medical advice")
    # one verdict per sentence, shared by the audio and the transcript
    pills = [s for s in model.judged if "pills" in s]
    assert pills == ["You can stop taking your pills today."]


async def test_a_greeting_from_the_api_is_screened_before_its_audio_is_made() -> None:
    """An outbound request's own greeting is not checked by `personas check`; its audio may
    be synthesized ahead of the call, so it is screened when the agent is made."""
    persona = guarded_persona(replace_with=REPLACEMENT)
    state = CallState(call_id="api-greeting", persona=persona.name, direction="outbound", room="r")
    voice = RecordingTTS()
    session = AgentSession[CallState](llm=BoastingLLM(), tts=voice, userdata=state)
    session.output.audio = CapturedAudio()
    greeting = "Hi Sam! Your returns are guaranteed."
    async with session:
        agent = PersonaAgent(persona, state, instructions="Savings desk.", greeting=greeting)
        await session.start(agent)
        await session.say("Bye.").wait_for_playout()  # queued after the greeting

    assert voice.spoken == f"{REPLACEMENT} Bye."
    [event] = state.guard_events
    assert (event.turn, event.matched) == (1, "guaranteed")
