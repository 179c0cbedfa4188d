"""Waiting for a helper process (a phone, a callee) to say it is listening.

Each prints one line `<MARK> <port>` once its SIP port is bound; until then its output is read
back from the file it writes to (a file, not a pipe: a full pipe would block the process).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


def wait_ready(
    process: subprocess.Popen[bytes], output: Path, *, mark: str, timeout: float = 15.0
) -> int:
    """The port `process` printed after `mark`; kills it and raises RuntimeError (with the
    end of its output) when it exits or stays silent for `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in output.read_text(errors="replace").splitlines():
            if line.startswith(mark):
                return int(line.split()[-1])
        if process.poll() is not None:
            break
        time.sleep(0.02)
    process.kill()
    tail = "\n".join(output.read_text(errors="replace").splitlines()[-30:])
    raise RuntimeError(f"{mark.split()[0].lower()} process did not start:\n{tail}")
