"""A flow persona's known lines are rendered by Piper once, before a caller waits for them, and
served from memory by the worker's inference process (`worker/providers/known_lines.py`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from livekit.agents import tts

from dialroom.paths import AGENTS_DIR, PROMPTS_DIR
from dialroom.persona import FlowStep, load_persona
from worker.flow import MAX_FILLED, known_replies, reply_to
from worker.providers import local_tts, shared_speech
from worker.providers.known_lines import KnownLines, flow_sentences
from worker.providers.local_tts import PiperTTS

DEMO = load_persona("demo")
CONFIRMED = "Great, I have you down for tuesday."
CLOUD_VOICE = "tts: {provider: azure, voice: en-US-JennyNeural}"


def test_every_reply_the_demo_can_give_is_known() -> None:
    replies = known_replies(DEMO.flow)
    for turns in (["tuesday please"], ["not sure"], ["erm", "sunday"]):
        assert reply_to(DEMO.flow, turns).text in replies
    assert len(replies) == 1 + 7  # the retry, and a confirmation per day


def test_a_reply_that_names_a_call_variable_is_not_known() -> None:
    steps = [
        FlowStep(collect="day", choices=("monday", "friday")),
        FlowStep(say="{caller_name}, see you {day}."),
        FlowStep(collect="time", choices=("morning", "noon"), retry="Morning or noon?"),
        FlowStep(say="So {day} in the {time}.", end_call=True),
    ]
    replies = known_replies(steps)
    assert "Morning or noon?" in replies
    assert not any("see you" in reply for reply in replies)
    # both answers named: every combination
    assert "So friday in the noon." in replies and "So monday in the morning." in replies


def test_the_combinations_are_bounded() -> None:
    choices = tuple(f"c{n}" for n in range(20))
    steps = [
        FlowStep(collect="a", choices=choices),
        FlowStep(collect="b", choices=choices, retry="And b?"),
        FlowStep(say="{a} and {b}.", end_call=True),
    ]
    filled = [reply for reply in known_replies(steps) if reply.endswith(" and c0.")]
    assert len(known_replies(steps)) == 2 + MAX_FILLED and filled


def test_only_local_voice_flow_personas_count(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    shutil.copy(AGENTS_DIR / "demo.yaml", agents / "demo.yaml")
    cloud = (AGENTS_DIR / "demo.yaml").read_text()
    cloud = cloud.replace("name: demo", "name: cloudy").replace("Sorry,", "Pardon,")
    (agents / "cloudy.yaml").write_text(cloud.replace("tts: {provider: local}", CLOUD_VOICE))
    (agents / "broken.yaml").write_text("name: [unclosed\n")
    sentences = flow_sentences(agents, PROMPTS_DIR)
    assert CONFIRMED in sentences and "Thank you for calling, goodbye!" in sentences
    assert not any(sentence.startswith("Pardon") for sentence in sentences)
    assert len(sentences) == len(set(sentences))


def test_kept_lines_are_bounded() -> None:
    lines = KnownLines(max_bytes=10)
    assert lines.render(["one.", "two.", "three."], lambda text: b"x" * 4) == 2
    assert lines.get("one.") == b"xxxx" and lines.get("three.") is None


async def test_the_sentences_the_session_asks_for_are_the_known_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The key is the text Piper is asked for: what AgentSession's sentence splitting makes
    of the flow's reply must be the sentences that were rendered ahead."""
    asked: list[str] = []

    def spy(text: str) -> bytes:
        asked.append(text)
        return b"\0\0" * 220

    monkeypatch.setattr(local_tts, "synthesize_pcm", spy)
    voice = tts.StreamAdapter(tts=PiperTTS())  # how a session wraps a non-streaming voice
    async with voice.stream() as stream:
        stream.push_text(reply_to(DEMO.flow, ["tuesday"]).text)
        stream.end_input()
        async for _ in stream:
            pass
    await voice.aclose()
    assert asked and set(asked) <= set(flow_sentences(AGENTS_DIR, PROMPTS_DIR))


async def test_the_inference_process_serves_known_lines_without_rendering(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(shared_speech.PERSONAS_ENV, f"{AGENTS_DIR}:{PROMPTS_DIR}")
    runner = shared_speech.PiperRunner()
    runner.initialize()
    assert runner.warming is not None
    runner.warming.join(timeout=60)
    rendered = local_tts.synthesize_pcm(CONFIRMED)

    def not_again(text: str) -> bytes:
        raise AssertionError(f"rendered again: {text}")

    monkeypatch.setattr(local_tts, "synthesize_pcm", not_again)
    assert runner.run(CONFIRMED.encode()) == rendered
    with pytest.raises(AssertionError, match="rendered again"):
        runner.run(b"A sentence no persona says.")
