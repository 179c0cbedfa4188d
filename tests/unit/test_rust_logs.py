"""Every call process keeps livekit-rtc's native log records in Rust from its start.

What `keep_native` does to the native library is checked through a real livekit-server in
`tests/integration/test_rust_logs.py`; this checks that a call process's prewarm does it.
"""

from __future__ import annotations

import pytest

from worker import server


def test_a_call_process_keeps_native_logs_in_rust_from_its_prewarm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    done: list[str] = []
    monkeypatch.setattr(server.rust_logs, "keep_native", lambda: done.append("kept native"))
    monkeypatch.setattr(server.apology, "prewarm", lambda: None)
    monkeypatch.setattr(server.warm_loop_monitor, "pause", lambda: None)  # env of this process
    monkeypatch.setattr(server.late_imports, "note_ready", lambda: None)
    monkeypatch.setattr(server.os, "nice", lambda _: 0)  # the test's own process stays as it is
    server.prewarm(None)  # type: ignore[arg-type]  # prewarm reads nothing from the process
    assert done == ["kept native"]
