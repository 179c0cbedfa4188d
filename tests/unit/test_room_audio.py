"""A call's caller audio is decoded at 16 kHz, the rate its VAD and recognisers take, not at
livekit-agents' 24 kHz default (a resampler per frame in every call process); the agent's
voice is published as plain Opus, without the RED livekit-sip cannot take."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from livekit import rtc
from pydantic import ValidationError

from dialroom.paths import ROOT
from worker.room_audio import phone_track, room_options
from worker.settings import WorkerSettings


def test_the_caller_audio_is_decoded_at_the_rate_asked_for() -> None:
    options = room_options(identity="sip_caller", input_rate=16000)
    assert options.participant_identity == "sip_caller"
    assert options.audio_input.sample_rate == 16000  # type: ignore[union-attr]
    published = options.audio_output.track_publish_options  # type: ignore[union-attr]
    assert published.red is False and published.source == phone_track().source


def test_audio_for_the_caller_is_a_microphone_track_without_red() -> None:
    options = phone_track()
    assert options.HasField("red") and not options.red
    assert options.source == rtc.TrackSource.SOURCE_MICROPHONE


def test_a_call_decodes_at_16_khz_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDIO_INPUT_SAMPLE_RATE", raising=False)
    assert WorkerSettings(_env_file=None).audio_input_sample_rate == 16000  # type: ignore[call-arg]


def test_the_rate_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIO_INPUT_SAMPLE_RATE", "24000")  # a string, as compose passes it
    assert WorkerSettings(_env_file=None).audio_input_sample_rate == 24000  # type: ignore[call-arg]


def test_a_rate_the_framework_cannot_decode_to_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError):
        WorkerSettings(audio_input_sample_rate=22050)  # type: ignore[arg-type]


def test_the_session_starts_with_these_room_options() -> None:
    """`worker.server` hands `session.start` the options built here, with the setting's rate."""
    tree = ast.parse(Path(ROOT, "worker", "server.py").read_text())
    starts = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "start"
        and any(k.arg == "room_options" for k in node.keywords)
    ]
    assert len(starts) == 1
    given = next(k.value for k in starts[0].keywords if k.arg == "room_options")
    assert isinstance(given, ast.Call) and ast.unparse(given.func) == "room_options"
    rate = next(k.value for k in given.keywords if k.arg == "input_rate")
    assert ast.unparse(rate) == "settings.audio_input_sample_rate"


def test_no_session_a_call_starts_hosts_a_remote_session() -> None:
    """Each `session.start(..., room=...)` of the worker says `session_host=False`: nobody in a
    phone call's room reads livekit's session stream (`lk.agent.session`)."""
    starts = _calls("start", "room")
    assert len(starts) >= 3  # the conversation, the lines-busy and not-in-service messages
    for name, node in starts:
        host = next((k.value for k in node.keywords if k.arg == "session_host"), None)
        assert host is not None and ast.unparse(host) == "False", name


def _calls(attr: str, keyword: str | None = None) -> list[tuple[str, ast.Call]]:
    """Every call of `<x>.attr(...)` in the worker's code (naming `keyword`, if given)."""
    found = []
    for path in Path(ROOT, "worker").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == attr
                and (keyword is None or any(k.arg == keyword for k in node.keywords))
            ):
                found.append((path.name, node))
    return found


def test_every_session_in_a_room_speaks_on_a_track_without_red() -> None:
    """The conversation, the lines-busy and the not-in-service messages all publish the agent's
    voice with `voice_output` (or `room_options`, which uses it)."""
    starts = _calls("start", "room")
    assert len(starts) >= 3
    for name, node in starts:
        given = ast.unparse(next(k.value for k in node.keywords if k.arg == "room_options"))
        assert given.startswith("room_options(") or "audio_output=voice_output()" in given, name


def test_every_track_the_worker_publishes_itself_is_a_phone_track() -> None:
    tracks = _calls("publish_track")
    assert tracks, "the warm transfer's relay publishes one"
    for name, node in tracks:
        assert [ast.unparse(a) for a in node.args[1:]] == ["phone_track()"], name
