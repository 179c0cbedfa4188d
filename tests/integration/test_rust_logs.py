"""A call process keeps livekit-rtc's native log records in Rust (`worker/rust_logs.py`).

Checked in a process of its own, through a real livekit-server: while audio flows between
two participants, livekit's runtime hands Python a stream of debug records (the control: the
probe sees them), and after `keep_native` none.
"""

from __future__ import annotations

import subprocess
import sys

from dialroom.paths import ROOT
from tests.support.stack import RunningStack


def test_native_log_records_stay_in_rust_once_kept_native(stack: RunningStack) -> None:
    probe = subprocess.run(
        [sys.executable, "-m", "tests.support.native_log_probe", stack.state.livekit_url, "logs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    before, after = (int(n) for n in probe.stdout.split())
    assert before > 20, f"the probe saw {before} records with livekit's capture on"
    assert after == 0, f"{after} native log records still reached Python"
