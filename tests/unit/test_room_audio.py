"""A call's caller audio is decoded at 16 kHz, the rate its VAD and recognisers take, not at
livekit-agents' 24 kHz default (a resampler per frame in every call process)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from pydantic import ValidationError

from dialroom.paths import ROOT
from worker.room_audio import room_options
from worker.settings import WorkerSettings


def test_the_caller_audio_is_decoded_at_the_rate_asked_for() -> None:
    options = room_options(identity="sip_caller", input_rate=16000)
    assert options.participant_identity == "sip_caller"
    assert options.audio_input.sample_rate == 16000  # type: ignore[union-attr]


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
    starts = []
    for path in Path(ROOT, "worker").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "start"
                and any(k.arg == "room" for k in node.keywords)
            ):
                starts.append((path.name, node))
    assert len(starts) >= 3  # the conversation, the lines-busy and not-in-service messages
    for name, node in starts:
        host = next((k.value for k in node.keywords if k.arg == "session_host"), None)
        assert host is not None and ast.unparse(host) == "False", name
