"""A warm call process runs no loop monitor; its call runs livekit's, as livekit would have.

`pause` runs in a call process's prewarm, before livekit-agents starts the job loop (and its
monitor, from the environment); `resume` at the call's start, on its loop.
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest
from livekit.agents.telemetry import loop_monitor

from dialroom.browser_call import DIRECTION_BROWSER
from worker import server, warm_loop_monitor


def _start_job_loop_as_livekit_does() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    loop_monitor.start_monitoring(loop, name="job")  # `ipc.proc_client.run`
    return loop


def _close(loop: asyncio.AbstractEventLoop) -> None:
    loop_monitor.stop_monitoring(loop)
    loop.close()


def test_a_warm_process_watches_no_loop_and_its_call_does(monkeypatch: pytest.MonkeyPatch) -> None:
    # unset to livekit (its default), and put back as it was after the test, which `pause` changes
    monkeypatch.setenv(loop_monitor.ENV_WARN_THRESHOLD_MS, "")
    monkeypatch.setenv(loop_monitor.ENV_ERROR_THRESHOLD_MS, "700")
    warm_loop_monitor.pause()
    loop = _start_job_loop_as_livekit_does()
    try:
        assert loop_monitor.get_monitor(loop) is None  # warm: nothing ticks
        loop.run_until_complete(_resume())
        monitor = loop_monitor.get_monitor(loop)
        assert monitor is not None
        assert (monitor._warn, monitor._error) == (0.1, 0.7)  # livekit's default, the operator's
    finally:
        _close(loop)


def test_a_monitor_the_operator_turned_off_stays_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(loop_monitor.ENV_WARN_THRESHOLD_MS, "0")
    warm_loop_monitor.pause()
    loop = _start_job_loop_as_livekit_does()
    try:
        loop.run_until_complete(_resume())
        assert loop_monitor.get_monitor(loop) is None
    finally:
        _close(loop)


async def _resume() -> None:
    warm_loop_monitor.resume()


def test_prewarm_pauses_the_monitor(monkeypatch: pytest.MonkeyPatch) -> None:
    done: list[str] = []
    monkeypatch.setattr(server.warm_loop_monitor, "pause", lambda: done.append("paused"))
    monkeypatch.setattr(server.rust_logs, "keep_native", lambda: None)
    monkeypatch.setattr(server.apology, "prewarm", lambda: None)
    monkeypatch.setattr(server.late_imports, "note_ready", lambda: None)
    monkeypatch.setattr(server.os, "nice", lambda _: 0)
    server.prewarm(None)  # type: ignore[arg-type]  # prewarm reads nothing from the process
    assert done == ["paused"]


async def test_a_call_resumes_the_monitor_first(monkeypatch: pytest.MonkeyPatch) -> None:
    done: list[str] = []
    monkeypatch.setattr(server.warm_loop_monitor, "resume", lambda: done.append("resumed"))
    # a browser dispatch without its fields: not valid, so the call ends at once
    ctx = SimpleNamespace(
        job=SimpleNamespace(metadata=json.dumps({"direction": DIRECTION_BROWSER})),
        shutdown=lambda reason: done.append(reason),
    )
    await server.entrypoint(ctx)  # type: ignore[arg-type]
    assert done == ["resumed", "invalid dispatch"]
