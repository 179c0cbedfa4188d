"""One scenario over a real SIP call: the phone says each caller line (rendered by piper) by
ear, records the agent, and Whisper transcribes the recording cut at the caller's lines."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

from faster_whisper.audio import decode_audio

from callcheck.phone import CallResult, PhoneError, dial_by_ear
from callcheck.scenario import Outcome, Scenario, ScenarioError
from worker.providers.local_stt import WHISPER_SAMPLE_RATE, transcribe_audio
from worker.providers.local_tts import synthesize_wav

PHONE_SAMPLE_RATE = 8000
QUIET_S = 1.2  # the agent is done talking once quiet this long (sentence gaps are shorter)
REPLY_TIMEOUT_S = 20.0  # no reply after this long: say the next line anyway
END_GRACE_S = 5.0  # after the last reply: time for the agent to hang up itself
CALL_SLACK_S = 60.0  # the whole call may last this long beyond the lines and their replies


def rendered(text: str, folder: Path) -> Path:
    """`text` spoken by piper as phone audio in `folder` (cached by content)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha1(text.encode()).hexdigest()[:12]}.wav"
    if not path.is_file():
        synthesize_wav(text, path, sample_rate=PHONE_SAMPLE_RATE)
    return path


def caller_number() -> str:
    """A fresh number to call from, so the check finds its own call's record."""
    return "1555" + "".join(secrets.choice("0123456789") for _ in range(7))


def place_call(scenario: Scenario, uri: str, work_dir: Path, *, caller: str) -> CallResult:
    """Call `uri` and say the scenario's lines by ear; the call as the phone saw it."""
    lines = [rendered(turn.say, work_dir / "lines") for turn in scenario.turns]
    timeout = len(lines) * (REPLY_TIMEOUT_S + 15.0) + CALL_SLACK_S
    try:
        call = dial_by_ear(
            uri,
            result_dir=work_dir,
            turns=lines,
            record=work_dir / "heard.wav",
            timeout=timeout,
            from_user=caller,
            quiet_s=QUIET_S,
            reply_timeout_s=REPLY_TIMEOUT_S,
            end_grace_s=END_GRACE_S,
        ).call
    except PhoneError as err:
        raise ScenarioError(f"the phone failed: {err}") from err
    if not call.connected or call.recording is None or call.media_active_at is None:
        raise ScenarioError(f"{uri} did not answer: {call.status_code} {call.reason}".strip())
    return call


def transcribe_call(call: CallResult) -> Outcome:
    """What the agent said: the greeting, then one reply per line said (cut where the next
    line starts), and the whole call; tools are unknown here (None)."""
    assert call.recording is not None and call.media_active_at is not None
    audio = decode_audio(str(call.recording), WHISPER_SAMPLE_RATE)
    cuts = [round((p.started_at - call.media_active_at) * WHISPER_SAMPLE_RATE) for p in call.plays]
    cuts = [min(max(cut, 0), len(audio)) for cut in cuts]
    pieces = [audio[a:b] for a, b in zip([0, *cuts], [*cuts, len(audio)], strict=True)]
    said = [transcribe_audio(piece) if len(piece) else "" for piece in pieces]
    return Outcome(
        greeting=said[0],
        replies=said[1:],
        hung_up=call.remote_hangup,
        heard=transcribe_audio(audio) if len(audio) else "",
        call=call,
    )
