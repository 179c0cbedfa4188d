"""`start.py check-call` without a call: latencies read from a canned recording, the limits a
scenario sets, the table and the exit code, and where the check calls."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from callcheck.check import resolve_target, sip_address
from callcheck.latency import Timings, measure, over_limits, p95
from callcheck.phone_result import CallResult, Play
from callcheck.report import CheckResult, print_result
from callcheck.scenario import Outcome, Scenario, ScenarioError, load_scenario
from stack.state import StackState

pytestmark = pytest.mark.unit
RATE = 8000
DEMO = Path(__file__).resolve().parents[1] / "scenarios" / "demo_books_tuesday.yaml"


def write_wav(path: Path, spans: list[tuple[float, float]], length_s: float) -> Path:
    """A 16-bit mono WAV, silent but for a tone over each (start, end) span."""
    samples = np.zeros(int(length_s * RATE), dtype=np.int16)
    for start, end in spans:
        t = np.arange(int(start * RATE), int(end * RATE))
        samples[t] = (8000 * np.sin(2 * np.pi * 440 * t / RATE)).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())
    return path


def scenario(**limits: float) -> Scenario:
    return load_scenario(DEMO).model_copy(update=limits)


def test_latencies_are_read_at_the_phone_from_line_ends_to_the_next_voice(tmp_path: Path) -> None:
    # the caller's line: 1.0 s of speech, then 0.5 s of silence piper leaves after it
    line = write_wav(tmp_path / "line.wav", [(0.0, 1.0)], 1.5)
    # the agent: greeting 0.6 -> 2.0 s; the line plays at 3.0 s (speech over at 4.0 s);
    # the reply starts at 5.2 s
    heard = write_wav(tmp_path / "heard.wav", [(0.6, 2.0), (5.2, 6.0)], 8.0)
    media = 1000.0
    call = CallResult(
        connected=True,
        media_active_at=media,
        recording=heard,
        plays=[Play(file=line, duration_s=1.5, started_at=media + 3.0)],
    )
    timings = measure(call)
    assert timings.greeting_s == pytest.approx(0.6, abs=0.021)
    assert timings.voice_to_voice_s[0] == pytest.approx(1.2, abs=0.021)


def test_a_line_with_no_reply_gives_no_latency(tmp_path: Path) -> None:
    line = write_wav(tmp_path / "line.wav", [(0.0, 1.0)], 1.0)
    heard = write_wav(tmp_path / "heard.wav", [(0.5, 1.5)], 6.0)
    call = CallResult(
        media_active_at=0.0,
        recording=heard,
        plays=[Play(file=line, duration_s=1.0, started_at=2.0)],
    )
    assert measure(call).voice_to_voice_s == [None]


def test_p95_is_the_nearest_rank_so_a_few_turns_give_the_slowest() -> None:
    assert p95([]) is None
    assert p95([0.9, 2.5, 1.1]) == 2.5
    assert p95([float(n) for n in range(1, 21)]) == 19.0


def test_limits_pass_when_met_and_name_the_limit_when_broken() -> None:
    timings = Timings(greeting_s=0.8, voice_to_voice_s=[1.2, 1.9])
    assert over_limits(scenario(max_greeting_s=1.0, max_voice_to_voice_p95_s=2.0), timings) == []
    assert over_limits(scenario(), timings) == []  # no limits: nothing to check
    broken = over_limits(scenario(max_greeting_s=0.5, max_voice_to_voice_p95_s=1.5), timings)
    assert broken == [
        "max_greeting_s: the greeting took 0.80s (limit 0.50s)",
        "max_voice_to_voice_p95_s: p95 1.90s over 2 line(s) (limit 1.50s)",
    ]
    silent = over_limits(scenario(max_greeting_s=1.0), Timings(greeting_s=None))
    assert silent == ["max_greeting_s: no greeting was heard (limit 1.00s)"]


def test_a_limit_must_be_a_positive_number_of_seconds(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEMO.read_text() + "max_greeting_s: 0\n")
    with pytest.raises(ScenarioError, match="max_greeting_s"):
        load_scenario(bad)


def canned(problems: list[str], *, tools_checked: bool = True) -> CheckResult:
    outcome = Outcome(
        greeting="Hello, you have reached the demo. Which day?",
        replies=["Great, Tuesday it is. Goodbye."],
        tools=[("end_call",)],
    )
    return CheckResult(
        scenario=scenario(max_greeting_s=1.0, max_voice_to_voice_p95_s=2.0),
        outcome=outcome,
        timings=Timings(greeting_s=0.42, voice_to_voice_s=[2.6]),
        problems=problems,
        uri="sip:1000@127.0.0.1:5060",
        tools_checked=tools_checked,
    )


def printed(result: CheckResult) -> tuple[int, str, str]:
    out = Console(record=True, width=220, force_terminal=False)
    err = Console(record=True, width=220, force_terminal=False)
    code = print_result(result, out, err)
    return code, out.export_text(), err.export_text()


def test_the_table_shows_each_turn_and_a_failure_exits_non_zero() -> None:
    code, out, err = printed(canned(["max_voice_to_voice_p95_s: p95 2.60s (limit 2.00s)"]))
    assert code == 1
    assert "greeting" in out and "Which day?" in out and "✓ demo" in out
    assert "I would like to come in on Tuesday, please." in out
    assert "✓ tuesday ✓ goodbye" in out
    assert "end_call (want end_call)" in out
    assert "0.42s / 1.00s" in out and "2.60s / 2.00s" in out
    assert "failed: max_voice_to_voice_p95_s" in err
    assert "passed" not in out


def test_a_clean_result_passes_and_unread_tools_say_so() -> None:
    code, out, err = printed(canned([], tools_checked=False))
    assert code == 0 and err == ""
    assert "not checked" in out and "passed demo" in out


def state(sip_uri: str = "sip:1000@127.0.0.1:5060", *, dev_keys: bool = True) -> StackState:
    return StackState(
        pid=1,
        sip_uri=sip_uri,
        livekit_url="ws://127.0.0.1:7880",
        redis_url="redis://127.0.0.1:6379/0",
        livekit_redis_url="redis://127.0.0.1:6380/0",
        api_url="http://127.0.0.1:8000",
        dev_keys=dev_keys,
        services=[],
    )


def test_the_check_calls_the_local_stack_and_reads_its_record_through_the_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CHECK_CALL_API_KEY", raising=False)
    demo = load_scenario(DEMO)
    target = resolve_target(demo, DEMO, None, state())
    assert target.uri == "sip:1000@127.0.0.1:5060"  # demo has no number: the stack's line
    assert target.api_url == "http://127.0.0.1:8000" and target.api_key == "dev-api-key"
    same = resolve_target(demo, DEMO, "sip:1000@127.0.0.1:5060;transport=udp", state())
    assert same.api_url == "http://127.0.0.1:8000"


def test_a_production_stack_needs_an_api_key_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHECK_CALL_API_KEY", "")
    with pytest.raises(ScenarioError, match="CHECK_CALL_API_KEY"):
        resolve_target(load_scenario(DEMO), DEMO, None, state(dev_keys=False))
    monkeypatch.setenv("CHECK_CALL_API_KEY", "k-123")
    assert resolve_target(load_scenario(DEMO), DEMO, None, state()).api_key == "k-123"


def test_a_persona_with_a_number_is_called_on_it() -> None:
    survey_file = DEMO.with_name("survey_two_answers.yaml")
    survey = load_scenario(survey_file)
    target = resolve_target(survey, survey_file, None, state())
    assert target.uri == "sip:2101@127.0.0.1:5060"


def test_another_address_leaves_the_tools_unchecked() -> None:
    demo = load_scenario(DEMO)
    remote = resolve_target(demo, DEMO, "sip:+14155550123@sip.example.com", state())
    assert remote.uri == "sip:+14155550123@sip.example.com" and remote.api_url is None
    alone = resolve_target(demo, DEMO, "sip:2000@127.0.0.1:5999", None)
    assert alone.api_url is None
    assert sip_address("sip:+1415@sip.example.com:5080;transport=tcp") == "sip.example.com:5080"


def test_with_no_stack_and_no_address_the_check_says_how_to_start_one() -> None:
    with pytest.raises(ScenarioError, match="start.py up --dev"):
        resolve_target(load_scenario(DEMO), DEMO, None, None)
