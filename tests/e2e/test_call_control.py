"""Call control over real SIP calls: the caller barges in, the agent hangs up, keys are pressed
both ways, and the caller is transferred (SIP REFER) to a second phone that answers.

One stack serves the module; each persona is reached by dialling one of its `numbers`.
Caller lines are rendered once per run by the local piper voice.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
import yaml

from callcheck.phone import PhoneResult, dial, start_answering
from callcheck.voice import first_voice_offset, voice_windows
from dialroom.calls import CALL_KEY, CALLS_BY_END
from tests.support.fixtures import render_fixture
from tests.support.stack import RunningStack, start_stack
from worker.providers.local_stt import transcribe_wav

pytestmark = pytest.mark.e2e

WINDOW_S = 0.02
STORY = (
    "Once upon a time there was a lighthouse keeper who counted the ships every night. "
    "On Monday he counted three ships, on Tuesday he counted five ships, and on Wednesday "
    "a great storm came and he could not count any ships at all. On Thursday the sea was calm "
    "again, and the keeper walked along the beach collecting shells of every colour. "
    "On Friday his sister came to visit with a basket of bread and apples. "
    "And that is the end of the lighthouse story."
)
LOCAL = {"stt": {"provider": "local"}, "llm": {"provider": "flow"}, "tts": {"provider": "local"}}
PERSONAS: dict[str, dict[str, Any]] = {
    "story": {
        "numbers": ["2101"],
        "greeting": {"inbound": "Hello, this is the story line. Say yes when you are ready."},
        "flow": [
            {"collect": "ready", "choices": ["yes", "ready"]},
            {"say": STORY},
            {
                "collect": "question",
                "choices": ["question", "interrupt", "sorry"],
                "retry": "Sorry, what was that?",
            },
            {"say": "Of course, stories can wait. Goodbye.", "end_call": True},
        ],
    },
    "keypad": {
        "numbers": ["2102"],
        "greeting": {
            "inbound": "Hello, this is the keypad line. Press one for sales or two for support."
        },
        "tools": {"dtmf": True},
        "flow": [
            {"collect": "team", "choices": ["1", "2"], "retry": "Please press one or two."},
            {"say": "You chose option {team}. Here is your code.", "send_dtmf": "42#"},
            {"say": "Goodbye.", "end_call": True},
        ],
    },
    "desk": {
        "numbers": ["2103"],
        "greeting": {
            "inbound": "Hello, this is the front line. Ask for the operator to reach a person."
        },
        "tools": {"transfer": {"to": "sip:human@127.0.0.1:{target_port}"}},
        "flow": [
            {"collect": "want", "choices": ["operator", "person", "human"]},
            {"say": "Connecting you now.", "transfer": True},
        ],
    },
}
CALLER_LINES = {
    "yes.wav": "Yes, I am ready.",
    "barge.wav": "Sorry to interrupt, but I have a question about the lighthouse.",
    "operator.wav": "I would like to speak to the operator, please.",
    "human.wav": "Hello, this is Sam at the front desk. How can I help?",
}


@dataclass
class ControlStack:
    stack: RunningStack
    lines: Path  # rendered caller lines
    target_port: int  # where the `desk` persona transfers to


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def control(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlStack]:
    lines = tmp_path_factory.mktemp("lines")
    for name, text in CALLER_LINES.items():
        render_fixture(text, lines / name)
    target_port = free_udp_port()
    agents = tmp_path_factory.mktemp("agents")
    for name, persona in PERSONAS.items():
        text = yaml.safe_dump({**LOCAL, **persona}).replace("{target_port}", str(target_port))
        (agents / f"{name}.yaml").write_text(text)
    (agents / "demo.yaml").write_text(Path("agents/demo.yaml").read_text())
    stack = start_stack(tmp_path_factory.mktemp("control"), env={"AGENTS_DIR": str(agents)})
    yield ControlStack(stack=stack, lines=lines, target_port=target_port)
    stack.stop()


def uri_for(control: ControlStack, number: str) -> str:
    return control.stack.state.sip_uri.replace("sip:1000@", f"sip:{number}@")


def new_call_record(control: ControlStack, before: set[bytes]) -> dict:
    client = redis.Redis(port=control.stack.redis_port)
    deadline = time.monotonic() + 20
    while not (new := set(client.zrange(CALLS_BY_END, 0, -1)) - before):
        assert time.monotonic() < deadline, "the worker never recorded the call's end"
        time.sleep(0.25)
    return json.loads(client.get(CALL_KEY.format(call_id=new.pop().decode())) or "{}")


def records_before(control: ControlStack) -> set[bytes]:
    return set(redis.Redis(port=control.stack.redis_port).zrange(CALLS_BY_END, 0, -1))


def voiced_between(voiced: np.ndarray, start_s: float, end_s: float) -> float:
    return float(voiced[int(start_s / WINDOW_S) : int(end_s / WINDOW_S)].sum() * WINDOW_S)


def test_caller_talking_over_the_agent_stops_it(control: ControlStack, tmp_path: Path) -> None:
    before = records_before(control)
    heard = tmp_path / "heard.wav"
    result = dial(
        uri_for(control, "2101"),
        result_dir=tmp_path,
        play=[(control.lines / "yes.wav", 6.0), (control.lines / "barge.wav", 20.0)],
        record=heard,
        hangup_after=60,
        timeout=75,
    )
    call = result.call
    assert call.connected and call.media_active_at is not None
    yes, barge = (play.started_at - call.media_active_at for play in call.plays)
    story_at = first_voice_offset(heard, after_s=yes + call.plays[0].duration_s)
    assert story_at is not None, "the agent never started the story"
    # Inbound SIP calls ignore barge-in for the first 3 s of each line (aec_warmup_duration).
    assert barge - story_at > 4.0, f"barge-in too early to count: story {story_at}, barge {barge}"

    voiced = voice_windows(heard, window_s=WINDOW_S)
    assert voiced_between(voiced, story_at, barge) > 0.7 * (barge - story_at), "story not heard"
    assert voiced_between(voiced, barge + 1.2, barge + 3.0) < 0.1, (
        f"the agent kept talking over the caller: stopped at +{stop_after(voiced, barge):.2f}s"
    )
    text = transcribe_wav(heard).lower()
    assert "lighthouse" in text and "end of the lighthouse story" not in text, text
    # The answer's opening words, then its goodbye: the transcriber once heard "wait" as "late".
    answer = text.partition("stories can")
    assert answer[1] and "goodbye" in answer[2], f"the question was not answered: {text!r}"
    assert call.remote_hangup, "the agent should hang up after its goodbye (end_call)"
    record = new_call_record(control, before)
    assert record["persona"] == "story" and record["outcome"] == "agent_hung_up"
    told = [line["text"] for line in record["transcript"] if line["text"].startswith("Once")]
    assert told and len(told[0]) < len(STORY), "the record should keep only what was heard"


def stop_after(voiced: np.ndarray, start_s: float) -> float:
    """Seconds from `start_s` to the first 0.3 s of silence (for the failure message)."""
    first = int(start_s / WINDOW_S)
    quiet = int(0.3 / WINDOW_S)
    for i in range(first, len(voiced) - quiet):
        if not voiced[i : i + quiet].any():
            return (i - first) * WINDOW_S
    return float("inf")


def test_keys_pressed_pick_the_branch_and_the_agent_presses_keys_back(
    control: ControlStack, tmp_path: Path
) -> None:
    before = records_before(control)
    heard = tmp_path / "heard.wav"
    result = dial(
        uri_for(control, "2102"),
        result_dir=tmp_path,
        dtmf=[("2#", 7.0)],
        record=heard,
        hangup_after=40,
        timeout=55,
    )
    call = result.call
    assert call.dtmf_sent and call.remote_hangup and call.media_active_at is not None
    text = transcribe_wav(heard).lower()
    assert "option two" in text or "option 2" in text, f"wrong branch: {text!r}"
    assert [digit for digit, _ in call.dtmf_received] == ["4", "2", "#"], call.dtmf_received
    first_key = call.dtmf_received[0][1] - call.media_active_at
    voiced = voice_windows(heard, window_s=WINDOW_S)
    assert voiced_between(voiced, first_key, len(voiced) * WINDOW_S) < 0.1, (
        "the keys should follow the words said with them, not play over them"
    )
    record = new_call_record(control, before)
    caller_lines = [line["text"] for line in record["transcript"] if line["role"] == "caller"]
    assert caller_lines == ["Keypad: 2"], record["transcript"]


def test_cold_transfer_refers_the_caller_to_a_second_phone(
    control: ControlStack, tmp_path: Path
) -> None:
    before = records_before(control)
    target_uri = f"sip:human@127.0.0.1:{control.target_port}"
    with start_answering(
        control.target_port,
        result_dir=tmp_path,
        play=[(control.lines / "human.wav", 0.5)],
        hangup_after=8,
        max_calls=1,
        duration=90,
    ) as target:
        heard = tmp_path / "heard.wav"
        caller = dial(
            uri_for(control, "2103"),
            result_dir=tmp_path,
            play=[(control.lines / "operator.wav", 6.0)],
            record=heard,
            hangup_after=60,
            timeout=75,
        )
        human: PhoneResult = target.result(timeout=30)

    first = caller.call
    assert first.transferred_to is not None and target_uri in first.transferred_to, first
    assert first.remote_hangup, "the bridge should drop the first leg once the REFER succeeded"
    assert len(caller.calls) == 2 and caller.calls[1].connected, caller.calls
    assert human.invites and human.invites[0].source.endswith(f":{caller.local_port}"), (
        "the second phone should be called by the caller's phone itself (REFER)"
    )
    assert human.call.connected
    assert "connecting you" in transcribe_wav(heard).lower()
    assert "front desk" in transcribe_wav(heard.with_stem("heard-2")).lower(), (
        "the caller should hear the human on the transferred call"
    )
    record = new_call_record(control, before)
    assert record["persona"] == "desk" and record["outcome"] == "transferred", record
    # The REFER went through the bridge (whether the bridge saw the phone's answer or lost it
    # to its v1.8.0 race: worker.tools.transfer.ANSWER_LOST; the phone's calls prove the rest).
    assert "transferring SIP call" in control.stack.log("livekit-sip")
