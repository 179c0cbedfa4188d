"""A real SIP call to a persona that records: the caller hears the consent notice before the
greeting, and the call's recording, fetched through the API, is stereo Ogg/Opus with the
caller's line on the left channel and the agent's greeting on the right (each transcribed)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import pytest
from faster_whisper.audio import decode_audio

from callcheck.phone import dial
from dialroom.paths import AGENTS_DIR
from tests.e2e.conftest import FIXTURES
from tests.support.history import sqlite_url
from tests.support.stack import RunningStack, start_stack
from worker.providers.local_stt import WHISPER_SAMPLE_RATE, transcribe_audio, transcribe_wav

pytestmark = pytest.mark.e2e

CALLER = "+14155550188"
CONSENT = "This call is recorded for quality."


@pytest.fixture(scope="module")
def recordings_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("recordings")


@pytest.fixture(scope="module")
def recording_stack(
    tmp_path_factory: pytest.TempPathFactory, recordings_dir: Path
) -> Iterator[RunningStack]:
    agents = tmp_path_factory.mktemp("agents")
    demo = (AGENTS_DIR / "demo.yaml").read_text()
    (agents / "demo.yaml").write_text(demo + f'recording: {{consent_message: "{CONSENT}"}}\n')
    env = {
        "AGENTS_DIR": str(agents),
        "DATABASE_URL": sqlite_url(tmp_path_factory.mktemp("history")),
        "RECORDINGS_DIR": str(recordings_dir),
    }
    running = start_stack(tmp_path_factory.mktemp("stack"), num_agents=1, env=env)
    yield running
    running.stop()


def test_a_recorded_call_has_the_caller_left_and_the_agent_right(
    recording_stack: RunningStack, recordings_dir: Path, tmp_path: Path
) -> None:
    heard = tmp_path / "heard.wav"
    result = dial(
        recording_stack.state.sip_uri,
        result_dir=tmp_path,
        from_user=CALLER,
        play=[(FIXTURES / "caller_tuesday.wav", 9.0)],  # after the notice and the greeting
        record=heard,
        hangup_after=45,
        timeout=60,
    )
    assert result.call.status_code == 200 and result.call.connected

    said = transcribe_wav(heard).lower()
    assert "recorded" in said and "which day" in said, f"notice or greeting not heard: {said!r}"
    assert said.index("recorded") < said.index("which day"), f"notice not first: {said!r}"

    with recording_stack.api_client() as client:
        call = _recorded_call(client)
        ref = call["record"]["recording"]
        assert ref["format"] == "ogg/opus" and ref["channels"] == ["caller", "agent"]
        assert 8.0 < ref["duration_s"] < 60.0, ref
        url = f"/api/calls/{call['call_id']}/recording"
        audio = client.get(url)
        assert audio.status_code == 200 and audio.headers["content-type"] == "audio/ogg"
        part = client.get(url, headers={"Range": "bytes=0-999"})
        assert part.status_code == 206 and len(part.content) == 1000
        assert part.headers["content-range"] == f"bytes 0-999/{len(audio.content)}"
        kept = recordings_dir / ref["key"]
        assert kept.read_bytes() == audio.content
        # erasure: the call and its recording go together
        assert client.delete(f"/api/calls/{call['call_id']}").status_code == 204
        assert client.get(url).status_code == 404 and not kept.exists()
    saved = tmp_path / "recording.ogg"
    saved.write_bytes(audio.content)

    with av.open(str(saved)) as container:
        stream = container.streams.audio[0]
        assert container.format.name == "ogg" and stream.codec_context.name == "opus"
        assert stream.codec_context.channels == 2

    caller, agent = decode_audio(str(saved), WHISPER_SAMPLE_RATE, split_stereo=True)
    caller_text, agent_text = transcribe_audio(caller).lower(), transcribe_audio(agent).lower()
    assert "tuesday" in caller_text, f"caller channel: {caller_text!r}"
    assert "which day" not in caller_text, f"the agent is on the caller's channel: {caller_text!r}"
    assert "recorded" in agent_text and "which day" in agent_text, f"agent: {agent_text!r}"
    assert agent_text.index("recorded") < agent_text.index("which day")


def _recorded_call(client: httpx.Client) -> dict:
    """The call, once the archiver has put it in the history with its recording."""
    deadline = time.monotonic() + 30
    while True:
        page = client.get("/api/calls", params={"has_recording": "true", "number": "0188"})
        assert page.status_code == 200, page.text
        if calls := page.json()["calls"]:
            [call] = calls
            return client.get(f"/api/calls/{call['call_id']}").json()
        assert time.monotonic() < deadline, "the recorded call never reached the history"
        time.sleep(0.25)
