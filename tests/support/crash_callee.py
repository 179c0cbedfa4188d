"""The crash matrix's callee: one SIP endpoint that logs every INVITE (as the INVITE counter
does, same JSON lines, same reader) and, by the dialled number, answers, is busy or rings
without answering.

Why its own process: a campaign needs all three answers at once from one trunk target, and
the count of INVITEs per call id at the callee, not Dialroom's bookkeeping, proves that no
call is dialed twice. The number's last digit picks the behaviour (`behaviour_of`): answered
calls are hung up by the callee after `--hangup-s` (the call ends `completed`), busy ones get
486, unanswered ones hear 180 Ringing until livekit-sip's ring timeout cancels them.

`python -m tests.support.crash_callee --help` shows the CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any, Literal

from callcheck.ready import wait_ready
from tests.support.invite_counter import (
    HOST,
    READY_MARK,
    REPO_ROOT,
    ReceivedInvite,
    account_config,
    open_endpoint,
    parse_invite,
    read_invites,
)

Behaviour = Literal["answer", "busy", "no-answer"]
BEHAVIOURS: tuple[Behaviour, ...] = ("answer", "busy", "no-answer")
GIVE_UP_RINGING_S = 60.0


def behaviour_of(number: str) -> Behaviour:
    """What the callee does with a call to `number` (its last digit, modulo 3)."""
    digits = [c for c in number if c.isdigit()]
    return BEHAVIOURS[int(digits[-1]) % 3 if digits else 0]


class CrashCallee:
    """The callee process; `invites()` reads its log, `stop()` ends it."""

    def __init__(self, *, log: Path, hangup_s: float = 2.0) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log
        self.output = log.with_suffix(".out")
        argv = ["--log", str(log), "--hangup-s", str(hangup_s)]
        with self.output.open("wb") as out:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "tests.support.crash_callee", *argv],
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.port = wait_ready(self._proc, self.output, mark=READY_MARK)

    def invites(self) -> list[ReceivedInvite]:
        return read_invites(self.log)

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> CrashCallee:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(*, log: IO[str], hangup_s: float) -> None:
    """Run the endpoint until SIGTERM; PJSUA2 is loaded only here."""
    import pjsua2 as pj

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    class Callee(pj.Account):
        def __init__(self) -> None:
            super().__init__()
            self.calls: dict[int, pj.Call] = {}
            self.hang_up_at: dict[int, float] = {}

        def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
            invite = parse_invite(prm.rdata.wholeMsg, received_at=time.time())
            log.write(json.dumps(asdict(invite)) + "\n")
            log.flush()
            call = pj.Call(self, prm.callId)
            self.calls[prm.callId] = call  # SWIG: the call must outlive this callback
            op = pj.CallOpParam(True)
            behaviour = behaviour_of(invite.to_user)
            op.statusCode = {"answer": 200, "busy": 486, "no-answer": 180}[behaviour]
            call.answer(op)
            # An unanswered call is let go after a while too: a SIP bridge killed while it
            # rang never cancels it, and PJSUA's call slots are few (MAX_CALLS).
            after = hangup_s if behaviour == "answer" else GIVE_UP_RINGING_S
            self.hang_up_at[prm.callId] = time.monotonic() + after

        def tick(self) -> None:
            now = time.monotonic()
            for call_id, call in list(self.calls.items()):
                if not call.isActive():  # ended: by either side, or turned away busy
                    del self.calls[call_id]
                    self.hang_up_at.pop(call_id, None)
                elif now >= self.hang_up_at.get(call_id, now + 1):
                    del self.hang_up_at[call_id]
                    call.hangup(pj.CallOpParam(True))

    ep, bound = open_endpoint(0)
    account = Callee()
    account.create(account_config(f"sip:callee@{HOST}:{bound}"))
    signal.signal(signal.SIGTERM, stop)
    print(f"{READY_MARK} {bound}", flush=True)
    while not stopping:
        ep.libHandleEvents(10)
        account.tick()
    ep.hangupAllCalls()
    give_up = time.time() + 1.0
    while time.time() < give_up:
        ep.libHandleEvents(10)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.crash_callee",
        description="Log every INVITE; answer, be busy or ring by the dialled number.",
    )
    parser.add_argument("--log", type=Path, required=True, help="JSON-lines file of INVITEs")
    parser.add_argument("--hangup-s", type=float, default=2.0, help="answered calls last S s")
    args: Any = parser.parse_args(argv)
    with args.log.open("a") as log:
        serve(log=log, hangup_s=args.hangup_s)
    sys.stdout.flush()
    os._exit(0)  # skip PJSUA2's teardown, which can abort the interpreter


if __name__ == "__main__":
    main()
