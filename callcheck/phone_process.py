"""A phone process in the background: started, waited for until its SIP port is bound, and
read back (its JSON result) or stopped.

Each phone is its own process because PJSUA2 can abort the interpreter at exit; its output
goes to a log file, not a pipe, so a chatty phone never blocks on a full pipe.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from pathlib import Path

from callcheck.phone_result import PhoneError, PhoneResult
from callcheck.ready import wait_ready

REPO_ROOT = Path(__file__).resolve().parents[1]
PHONE_COMMAND = [sys.executable, "-m", "callcheck.phone"]
READY_MARK = "PHONE READY"  # printed once the SIP port is bound; value is the local port


class PhoneProcess:
    """A phone running in the background; `result()` waits for it, `stop()` ends it first."""

    def __init__(self, argv: list[str], *, result_dir: Path, name: str) -> None:
        result_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{name}-{uuid.uuid4().hex[:8]}"
        self.result_path = result_dir / f"{stem}.json"
        self.log_path = result_dir / f"{stem}.log"  # a file, not a pipe: a full pipe would block
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                [*PHONE_COMMAND, *argv, "--result", str(self.result_path)],
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self.port = wait_ready(self._proc, self.log_path, mark=READY_MARK)
        except RuntimeError as err:
            raise PhoneError(str(err)) from err

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def result(self, timeout: float = 60.0) -> PhoneResult:
        """Wait for the phone to finish on its own and parse what it wrote."""
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired as e:
            self._proc.kill()
            raise PhoneError(f"phone still running after {timeout}s:\n{self.log_tail()}") from e
        if not self.result_path.exists():
            raise PhoneError(
                f"phone exited {self._proc.returncode} with no result:\n{self.log_tail()}"
            )
        return PhoneResult.from_json(self.result_path.read_text())

    def stop(self, timeout: float = 10.0) -> PhoneResult:
        """Hang up whatever is in progress, then return the result."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
        return self.result(timeout)

    def __enter__(self) -> PhoneProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
