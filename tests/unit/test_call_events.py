"""What `call.ended` says of a call that never reached a conversation, and how a call's reply
latency is summed up for it."""

from __future__ import annotations

from dialroom import call_events
from dialroom.call_status import CallStatus, StatusEvent
from dialroom.calls import TurnLatency
from dialroom.history import ArchivedCall


def test_a_busy_campaign_call_ends_with_its_status_and_no_conversation() -> None:
    call = ArchivedCall(
        call_id="c-busy",
        direction="outbound",
        persona="reminder",
        outcome="busy",
        started_at=100.0,
        ended_at=112.5,
        called_number="+14155550123",
        status=CallStatus.BUSY,
        attempts=2,
        sip_code=486,
        detail="busy here",
        campaign_id="f" * 32,
        history=[StatusEvent(status=CallStatus.QUEUED, at=100.0, attempt=1)],
    )
    event = call_events.ended(call, trunk="")
    assert event.event_id == "c-busy:ended" and event.type == "call.ended"
    assert (event.outcome, event.status, event.sip_code) == ("busy", "busy", 486)
    assert event.campaign_id == "f" * 32 and event.duration_s == 12.5
    assert event.trunk is None and event.transcript == [] and event.summary is None
    assert event.latency is None and event.recording_url is None


def test_latency_is_summed_up_per_measured_stage() -> None:
    turns = [
        TurnLatency(at=1.0, stt_s=0.2, voice_to_voice_s=0.8),
        TurnLatency(at=2.0, stt_s=0.4, voice_to_voice_s=1.6),
        TurnLatency(at=3.0, voice_to_voice_s=1.0),
    ]
    summary = call_events.latency_summary(turns)
    assert summary.turns == 3
    assert set(summary.stages) == {"stt_s", "voice_to_voice_s"}  # the others: not measured
    voice = summary.stages["voice_to_voice_s"]
    assert (voice.turns, voice.p50_s, voice.p95_s, voice.max_s) == (3, 1.0, 1.6, 1.6)
    assert summary.stages["stt_s"].turns == 2
