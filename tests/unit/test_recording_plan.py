"""Which calls are recorded (a persona's `recording:`, else RECORDING_ENABLED), what the caller
hears first, and how the worker keeps the session recorder's file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dialroom.persona import PersonaError, load_persona
from dialroom.persona_schema import Persona
from dialroom.recordings import LocalRecordings
from tests.support.ogg import write_stereo_ogg
from worker.recording import AUDIO_ONLY, Recorder, plan_for, record_options
from worker.settings import WorkerSettings

pytestmark = pytest.mark.unit

BASE = """\
stt: {provider: local}
llm: {provider: flow}
tts: {provider: local}
greeting: {inbound: "Hello"}
flow:
  - collect: day
    choices: [monday, tuesday]
"""


def persona(tmp_path: Path, extra: str = "") -> Persona:
    (tmp_path / "p.yaml").write_text(BASE + extra)
    return load_persona("p", agents_dir=tmp_path, prompts_dir=tmp_path)


def test_a_persona_recording_section_decides_over_the_global_default(tmp_path: Path) -> None:
    on = persona(tmp_path, 'recording: {consent_message: "This call is recorded."}')
    plan = plan_for(on, WorkerSettings(recording_enabled=False))
    assert plan.enabled and plan.consent == "This call is recorded."
    assert record_options(plan) == AUDIO_ONLY and AUDIO_ONLY["transcript"] is False

    off = persona(tmp_path, 'recording: {enabled: false, consent_message: "Recorded."}')
    plan = plan_for(off, WorkerSettings(recording_enabled=True))
    assert not plan.enabled and plan.consent is None
    assert record_options(plan) is False


def test_without_a_section_recording_enabled_decides(tmp_path: Path) -> None:
    plain = persona(tmp_path)
    assert not plan_for(plain, WorkerSettings()).enabled
    on = WorkerSettings(recording_enabled=True, recording_consent_message="We record calls.")
    assert plan_for(plain, on).enabled and plan_for(plain, on).consent == "We record calls."


def test_a_consent_message_naming_an_unknown_variable_is_a_persona_error(
    tmp_path: Path,
) -> None:
    with pytest.raises(PersonaError, match="recording.consent_message"):
        persona(tmp_path, 'recording: {consent_message: "Hi {nobody}"}')


def test_the_recorder_stores_the_session_file_with_its_length(tmp_path: Path) -> None:
    session_dir = tmp_path / "job"
    session_dir.mkdir()
    write_stereo_ogg(session_dir / "audio.ogg", seconds=2.0)
    store = LocalRecordings(tmp_path / "kept")
    recorder = Recorder(call_id="call-xyz1", session_dir=session_dir, store=lambda: store)
    ref = asyncio.run(recorder.keep())
    assert ref is not None and recorder.kept == ref
    assert ref.key == "call-xyz1.ogg" and ref.format == "ogg/opus"
    assert 1.95 <= ref.duration_s <= 2.1
    kept = store.path(ref.key)
    assert kept.read_bytes() == (session_dir / "audio.ogg").read_bytes()
    assert ref.size_bytes == kept.stat().st_size


def test_a_call_that_recorded_nothing_has_no_recording(tmp_path: Path) -> None:
    store = LocalRecordings(tmp_path)
    recorder = Recorder(call_id="call-xyz2", session_dir=tmp_path, store=lambda: store)
    assert asyncio.run(recorder.keep()) is None and recorder.kept is None
