"""The one-call page as rendered: what a call's record says, escaped, with the player only
for a call that has a recording."""

from __future__ import annotations

import pytest

from api.console.call_view import call_page_context
from api.console.deliveries import Delivery
from api.console.pages import templates
from api.models import CallDetail
from dialroom.calls import CallRecord, ToolCall, TranscriptLine, TurnLatency
from dialroom.recordings import RecordingRef

pytestmark = pytest.mark.unit

START = 1_800_000_000.0


def _detail(**record: object) -> CallDetail:
    call = CallRecord(
        call_id="call-abc123",
        persona="demo",
        direction="inbound",
        room="call-room",
        caller_number="+14155550188",
        started_at=START,
        ended_at=START + 20,
        outcome="agent_hung_up",
        transcript=[
            TranscriptLine(role="agent", text="Which day?", at=START + 2),
            TranscriptLine(role="caller", text="<script>alert(1)</script> Tuesday", at=START + 9.5),
        ],
        turns=[TurnLatency(at=START + 10, end_of_turn_s=0.4, voice_to_voice_s=1.0)],
        tool_calls=[ToolCall(name="book", arguments={"day": "tue"}, output="booked", at=START)],
        summary="Booked <b>Tuesday</b>",
        extracted={"day": "tuesday"},
        **record,  # type: ignore[arg-type]
    )
    return CallDetail(
        call_id=call.call_id,
        direction="inbound",
        persona="demo",
        outcome=call.outcome,
        attempts=1,
        max_attempts=1,
        updated_at=call.ended_at,
        record=call,
        archived=True,
    )


def _render(detail: CallDetail) -> str:
    context = {**call_page_context(detail), "webhooks": [], "csrf": "t", "path": "/console/calls"}
    return templates.get_template("call.html").render(**context)


def test_what_was_said_is_shown_with_its_time_and_escaped() -> None:
    html = _render(_detail())
    assert "+9.5 s" in html and "Tuesday" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "Booked &lt;b&gt;Tuesday&lt;/b&gt;" in html
    assert "book" in html and "booked" in html and "tuesday" in html
    assert 'class="bar voice_to_voice"' in html


def test_the_player_is_there_only_for_a_recorded_call() -> None:
    assert "<audio" not in _render(_detail())
    ref = RecordingRef(key="call-abc123.ogg", duration_s=19.8, size_bytes=1000)
    html = _render(_detail(recording=ref))
    assert 'src="/console/calls/call-abc123/recording"' in html
    assert 'data-duration="19.8"' in html


def test_webhook_deliveries_show_target_host_tries_answer_and_state() -> None:
    context = {
        **call_page_context(_detail()),
        "webhooks": [
            Delivery(target="WEBHOOK_URL", event="call.started", state="done", attempts=1),
            Delivery(target="WEBHOOK_URL", event="call.ended", state="given_up", attempts=3),
            Delivery(
                target="callback_url",
                event="#2 ringing",
                state="pending",
                attempts=1,
                host="hooks.example.com",
                answer="no answer within 10 s",
                at=START + 5,
            ),
        ],
    }
    html = templates.get_template("call.html").render(**context, csrf="t", path="/console")
    assert "<code>call.started</code>: done" in html and "to WEBHOOK_URL</span>, 1 try" in html
    assert "<code>call.ended</code>: given up" in html and "3 tries</li>" in html
    assert '<li class="given_up">' in html
    assert "to callback_url (hooks.example.com)</span>, 1 try, last answer no answer" in html
    assert "<time>2027-01-15 08:00:05</time> UTC" in html
