"""A real SIP phone calls the real stack (livekit-sip -> livekit-server -> worker) and talks
to the demo persona. Ordered: the last test stops the stack and checks nothing is left."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
import redis
from livekit import api

from callcheck.phone import dial
from dialroom.calls import CALL_KEY, CALLS_BY_END
from dialroom.paths import ROOT
from tests.e2e.conftest import FIXTURES
from tests.support.dispatching import AGENT, livekit
from tests.support.stack import RunningStack
from worker.providers.local_stt import transcribe_wav

pytestmark = pytest.mark.e2e


def test_demo_persona_greets_answers_and_hangs_up(stack: RunningStack, tmp_path: Path) -> None:
    heard = tmp_path / "heard.wav"
    result = dial(
        stack.state.sip_uri,
        result_dir=tmp_path,
        play=[(FIXTURES / "caller_tuesday.wav", 7.0)],  # after the ~5 s greeting
        record=heard,
        hangup_after=40,
        timeout=60,
    )
    call = result.call
    assert call.status_code == 200 and call.connected
    assert call.remote_hangup, "the persona should hang up after saying goodbye"

    text = transcribe_wav(heard).lower()
    assert "demo" in text and "which day" in text, f"greeting not heard: {text!r}"
    assert "tuesday" in text, f"the answer should repeat the day the caller said: {text!r}"
    assert "goodbye" in text, f"no goodbye heard: {text!r}"


def test_worker_records_the_end_of_the_call(stack: RunningStack) -> None:
    client = redis.Redis(port=stack.redis_port)
    call_ids = [c.decode() for c in client.zrange(CALLS_BY_END, 0, -1)]
    assert len(call_ids) == 1, f"expected exactly the one call placed above: {call_ids}"
    record = json.loads(client.get(CALL_KEY.format(call_id=call_ids[0])) or "{}")
    assert record["persona"] == "demo" and record["direction"] == "inbound"
    assert record["outcome"] == "agent_hung_up"
    caller_lines = [t["text"].lower() for t in record["transcript"] if t["role"] == "caller"]
    assert any("tuesday" in line for line in caller_lines), record["transcript"]
    logs = "".join(stack.log(f"worker-{i}") for i in (1, 2, 3))
    assert f"call ended: call_id={call_ids[0]} persona=demo" in logs
    # the reply to "tuesday" is one measured turn: each stage of its latency is in the record
    assert record["answered_at"] >= record["started_at"]
    assert record["turns"], f"no turn latency recorded: {record}"
    turn = record["turns"][-1]
    for stage in ("end_of_turn_s", "stt_s", "tts_ttfb_s", "voice_to_voice_s"):
        assert (turn[stage] or 0) > 0, f"{stage} not measured: {turn}"
    assert turn["llm_ttft_s"] is not None, turn
    assert record["usage"]["stt_audio_s"] > 0 and record["usage"]["tts_characters"] > 0


def test_caller_hanging_up_mid_greeting_ends_the_call_cleanly(
    stack: RunningStack, tmp_path: Path
) -> None:
    client = redis.Redis(port=stack.redis_port)
    before = set(client.zrange(CALLS_BY_END, 0, -1))
    result = dial(stack.state.sip_uri, result_dir=tmp_path, hangup_after=2.5, timeout=60)
    assert result.call.status_code == 200 and not result.call.remote_hangup
    deadline = time.monotonic() + 20
    while not (new := set(client.zrange(CALLS_BY_END, 0, -1)) - before):
        assert time.monotonic() < deadline, "the worker never recorded the call's end"
        time.sleep(0.25)
    record = json.loads(client.get(CALL_KEY.format(call_id=new.pop().decode())) or "{}")
    assert record["outcome"] == "caller_hung_up"
    assert record["ended_at"] - record["started_at"] < 10


def test_a_caller_gone_before_the_agent_came_is_recorded_hung_up_and_frees_the_line(
    stack: RunningStack,
) -> None:
    """A caller who hangs up while the call rings can be gone from the room before the agent
    it dispatched joins (seen with a real CANCEL 0.3 s after the INVITE). Here made certain:
    the inbound dispatch in a room no SIP leg ever joins. The agent waited until
    livekit-server closed the room (20 s) and recorded `failed` with an unhandled exception."""
    client = redis.Redis(port=stack.redis_port)
    call_id = uuid.uuid4().hex
    room = f"gone-{call_id}"
    asyncio.run(_dispatch_inbound(stack, room, call_id))
    deadline = time.monotonic() + 30
    while not (raw := client.get(CALL_KEY.format(call_id=call_id))):
        assert time.monotonic() < deadline, "the worker never recorded the call's end"
        time.sleep(0.25)
    record = json.loads(raw)
    assert (record["direction"], record["outcome"]) == ("inbound", "caller_hung_up"), record
    assert record["answered_at"] is None and not record["transcript"], record
    assert not asyncio.run(_room_exists(stack, room)), "the room outlived the call"
    logs = "".join(stack.log(f"worker-{i}") for i in (1, 2, 3))
    errors = [line for line in logs.splitlines() if call_id in line and '"ERROR"' in line]
    assert not errors, errors


async def _dispatch_inbound(stack: RunningStack, room: str, call_id: str) -> None:
    metadata = json.dumps({"direction": "inbound", "call_id": call_id})
    async with livekit(stack) as lk:
        await lk.room.create_room(api.CreateRoomRequest(name=room))
        await lk.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name=AGENT, room=room, metadata=metadata)
        )


async def _room_exists(stack: RunningStack, room: str) -> bool:
    async with livekit(stack) as lk:
        return bool((await lk.room.list_rooms(api.ListRoomsRequest(names=[room]))).rooms)


def test_three_workers_register_with_the_server(stack: RunningStack) -> None:
    status = subprocess.run(
        [sys.executable, "start.py", "status", "--run-dir", str(stack.run_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=30,
    )
    assert status.returncode == 0, status.stderr
    workers = [line for line in status.stdout.splitlines() if "worker-" in line]
    assert len(workers) == 3, status.stdout
    # each its own registration with the server, for the agent name dispatches ask for
    registration = re.compile(r"registered as (AW_\w+), agent dialroom, \d+ active call\(s\)")
    worker_ids = {m.group(1) for line in workers if (m := registration.search(line))}
    assert len(worker_ids) == 3, status.stdout
    assert stack.log("livekit-server").count("worker registered") >= 3


def test_sigterm_stops_every_process_of_the_stack(stack: RunningStack) -> None:
    tree = psutil.Process(stack.process.pid).children(recursive=True)
    assert len(tree) >= 7, "redis, livekit-server, livekit-sip, api and 3 workers"
    assert stack.stop() == 0
    _, alive = psutil.wait_procs(tree, timeout=15)
    assert not alive, f"left running after SIGTERM: {[(p.pid, p.name()) for p in alive]}"
    assert "every process of the stack has exited" in stack.output.read_text()
