"""What the chart's containers run, run here: the worker's preStop drain hook against a
stand-in that drains as livekit-agents does, and the SIP bridge's command on the rendered
config (both are shell and Python the chart ships, not Kubernetes features).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from tests.support.helm import CHART, config_maps, pod

pytestmark = pytest.mark.unit

HOOK = CHART / "files" / "worker_prestop.py"


def test_pre_stop_hook_sends_one_sigterm_and_returns_once_the_worker_exited(
    tmp_path: Path,
) -> None:
    """A stand-in worker that drains as livekit-agents does: the first SIGTERM starts a drain
    that lasts 2 s, a second one exits at once with status 1 (a cut-short drain)."""
    drained = tmp_path / "drained"
    worker_code = f"""
import os, signal, sys, time
def first(*_):
    signal.signal(signal.SIGTERM, lambda *_: os._exit(1))
    time.sleep(2.0)
    open({str(drained)!r}, "w").write("done")
    sys.exit(0)
signal.signal(signal.SIGTERM, first)
print("ready", flush=True)
while True:
    time.sleep(0.1)
"""
    worker = subprocess.Popen([sys.executable, "-c", worker_code], stdout=subprocess.PIPE)
    assert worker.stdout is not None and worker.stdout.readline().strip() == b"ready"
    reaper = threading.Thread(target=worker.wait, daemon=True)  # the container's PID 1 exits
    reaper.start()
    started = time.monotonic()
    hook = subprocess.run(
        [sys.executable, str(HOOK), "--pid", str(worker.pid), "--poll-s", "0.1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert hook.returncode == 0, hook.stderr
    assert time.monotonic() - started >= 2.0, "the hook waited for the drain"
    reaper.join(timeout=5)
    assert worker.returncode == 0 and drained.read_text() == "done"
    # What the kubelet then sends finds no worker to cut short.
    with pytest.raises(ProcessLookupError):
        os.kill(worker.pid, signal.SIGTERM)


def test_sip_bridge_config_gets_livekits_redis_password(tmp_path: Path) -> None:
    """The sip container's command, run as plain shell on the rendered ConfigMap, with a
    stand-in `livekit-sip` that prints the config body it was given."""
    values = CHART / "values.yaml"
    spec = pod(values, "sip")
    container = spec["containers"][0]
    (config_volume,) = [v for v in spec["volumes"] if v["name"] == "config"]
    text = config_maps(values)[config_volume["configMap"]["name"]]["data"]["config.yaml"]
    (tmp_path / "config.yaml").write_text(text)
    fake = tmp_path / "livekit-sip"
    fake.write_text('#!/bin/sh\nprintf %s "$SIP_CONFIG_BODY"\n')
    fake.chmod(0o755)
    (mount,) = container["volumeMounts"]
    command = [part.replace(mount["mountPath"], str(tmp_path)) for part in container["command"]]
    done = subprocess.run(
        command,
        env={"PATH": f"{tmp_path}:/usr/bin:/bin", "LIVEKIT_REDIS_PASSWORD": "lk-redis-secret"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    committed = yaml.safe_load(text)
    assert config["redis"] == {**committed["redis"], "password": "lk-redis-secret"}
    assert {k: v for k, v in config.items() if k != "redis"} == {
        k: v for k, v in committed.items() if k != "redis"
    }
