"""The call record: per-turn latency from the session's message metrics, usage, tool calls,
and what survives the trip through Redis's JSON (what GET /api/calls/{id} returns)."""

from __future__ import annotations

from livekit.agents.metrics import LLMModelUsage, STTModelUsage, TTSModelUsage

from dialroom.calls import CallRecord
from worker.call_state import CallState


def new_state() -> CallState:
    return CallState(call_id="c1", persona="demo", direction="inbound", room="call-1")


CALLER = {"end_of_turn_delay": 0.41, "transcription_delay": 0.2, "stopped_speaking_at": 5.0}
AGENT = {
    "llm_node_ttft": 0.0123,
    "tts_node_ttfb": 0.15,
    "e2e_latency": 0.8,
    "started_speaking_at": 5.8,
}


def test_a_caller_turn_and_its_reply_make_one_turn_of_latency() -> None:
    state = new_state()
    state.measured("assistant", {"tts_node_ttfb": 0.2})  # the greeting answers nobody
    state.measured("user", CALLER)
    state.measured("assistant", AGENT)
    (turn,) = state.record().turns
    assert (turn.end_of_turn_s, turn.stt_s) == (0.41, 0.2)
    assert (turn.llm_ttft_s, turn.tts_ttfb_s, turn.voice_to_voice_s) == (0.012, 0.15, 0.8)
    assert (turn.caller_stopped_at, turn.agent_started_at) == (5.0, 5.8)  # wall clock, both ends


def test_missing_or_negative_metrics_are_not_measured() -> None:
    state = new_state()
    state.measured("user", {})
    state.measured("assistant", {"e2e_latency": -1.0, "llm_node_ttft": 0.3})
    (turn,) = state.turns
    assert turn.voice_to_voice_s is None and turn.end_of_turn_s is None
    assert turn.caller_stopped_at is None and turn.agent_started_at is None
    assert turn.llm_ttft_s == 0.3


def test_usage_adds_up_each_kind_of_model() -> None:
    state = new_state()
    state.used(
        [
            LLMModelUsage(provider="openai", model="m", input_tokens=120, output_tokens=30),
            LLMModelUsage(provider="openai", model="n", input_tokens=5, output_tokens=1),
            STTModelUsage(provider="whisper", model="tiny", audio_duration=3.25),
            TTSModelUsage(provider="piper", model="joe", characters_count=64, audio_duration=4.5),
        ]
    )
    usage = state.record().usage
    assert (usage.llm_input_tokens, usage.llm_output_tokens) == (125, 31)
    assert (usage.stt_audio_s, usage.tts_characters, usage.tts_audio_s) == (3.25, 64, 4.5)


def test_tool_calls_keep_arguments_output_and_error() -> None:
    state = new_state()
    state.ran_tool("order_status", '{"order_id": "42"}', '{"status": "shipped"}', error=False)
    state.ran_tool("order_status", "not json", "The service did not answer.", error=True)
    first, second = state.record().tool_calls
    assert first.name == "order_status" and first.arguments == {"order_id": "42"}
    assert not first.error and first.output == '{"status": "shipped"}'
    assert second.arguments == "not json" and second.error


def test_the_whole_record_round_trips_through_json() -> None:
    state = new_state()
    state.answered_at = state.started_at + 1.5
    state.measured("user", CALLER)
    state.measured("assistant", AGENT)
    state.ran_tool("end_call", "{}", None, error=False)
    state.summary, state.extracted = "The caller booked Tuesday.", {"day": "tuesday"}
    state.error = "tts Azure TTS: 401"
    record = state.record()
    again = CallRecord.model_validate_json(record.model_dump_json())
    assert again == record
    assert again.answered_at == state.started_at + 1.5 and again.turns[0].voice_to_voice_s == 0.8


def test_an_old_record_without_the_new_fields_still_reads() -> None:
    old = (
        '{"call_id": "c", "persona": "demo", "direction": "inbound", "room": "r",'
        ' "started_at": 1.0, "ended_at": 2.0, "outcome": "agent_hung_up"}'
    )
    record = CallRecord.model_validate_json(old)
    assert record.turns == [] and record.usage.llm_input_tokens == 0 and record.summary is None
