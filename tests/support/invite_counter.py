"""A SIP endpoint that logs every INVITE it receives and turns each one away (486 Busy Here).

For tests and benchmarks that need to know exactly which calls were dialed, how often and
when, and nothing about what was said: answering busy is fast and cheap (no media), and busy
is a terminal call status when `max_attempts` is 1. Each INVITE becomes one JSON line in the
log the moment it arrives, so a reader can follow it while calls are still coming in. The
Dialroom call id is read from the `X-Dialroom-Call-Id` header the worker puts on its INVITEs.

Like the test phone it runs in its own process (PJSUA2 can abort the interpreter at exit);
`python -m tests.support.invite_counter --help` shows the CLI.
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from callcheck.ready import wait_ready

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_MARK = "COUNTER READY"  # printed once the SIP port is bound; value is the local port
CALL_ID_HEADER = "x-dialroom-call-id"
HOST = "127.0.0.1"
# Calls held at once: pjsua2-python's wheel is built with PJSUA_MAX_CALLS 4, whatever is
# asked for (measured 2026-12-06, `callcheck.phone_cli.MAX_CALLS`); a fifth concurrent INVITE
# is refused 486 by PJSUA itself, unseen by this counter.
MAX_CALLS = 4


@dataclass(frozen=True, kw_only=True)
class ReceivedInvite:
    sip_call_id: str  # the SIP Call-ID: a new one per dial, the same on retransmissions
    request_uri: str
    to_user: str  # user part of the request URI: the dialled number
    dialroom_call_id: str | None  # the X-Dialroom-Call-Id header, None when absent
    received_at: float  # time.time() in the counter process


def read_invites(log: Path) -> list[ReceivedInvite]:
    """Every INVITE logged so far, in arrival order (a half-written last line is skipped)."""
    if not log.exists():
        return []
    invites = []
    for line in log.read_text().splitlines():
        try:
            invites.append(ReceivedInvite(**json.loads(line)))
        except json.JSONDecodeError:
            break  # the writer is mid-line; the next read gets it
    return invites


class InviteCounter:
    """The counter process; `invites()` reads its log, `stop()` ends it."""

    def __init__(self, port: int, *, log: Path, code: int = 486) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log
        self.output = log.with_suffix(".out")
        argv = ["--port", str(port), "--log", str(log), "--code", str(code)]
        with self.output.open("wb") as out:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "tests.support.invite_counter", *argv],
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.port = wait_ready(self._proc, self.output, mark=READY_MARK)

    def invites(self) -> list[ReceivedInvite]:
        return read_invites(self.log)

    def stop(self) -> list[ReceivedInvite]:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        return self.invites()

    def __enter__(self) -> InviteCounter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def header(message: str, name: str) -> str | None:
    """The value of SIP header `name` (case-insensitive) in a raw message, if present."""
    for line in message.split("\r\n\r\n", 1)[0].splitlines()[1:]:
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == name:
            return value.strip()
    return None


def parse_invite(message: str, *, received_at: float) -> ReceivedInvite:
    request_uri = message.split(maxsplit=2)[1]  # "INVITE <uri> SIP/2.0"
    user = request_uri.split(":", 1)[-1].split("@", 1)[0]
    return ReceivedInvite(
        sip_call_id=header(message, "call-id") or header(message, "i") or "",
        request_uri=request_uri,
        to_user=user,
        dialroom_call_id=header(message, CALL_ID_HEADER),
        received_at=received_at,
    )


def open_endpoint(port: int) -> tuple[Any, int]:
    """A started PJSUA2 endpoint on HOST:`port` (0: any), polled by its caller, with no sound
    device; and the port it bound."""
    import pjsua2 as pj

    ep = pj.Endpoint()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0  # events are polled by the caller
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.maxCalls = MAX_CALLS
    cfg.logConfig.level = cfg.logConfig.consoleLevel = 1
    ep.libCreate()
    ep.libInit(cfg)
    transport = pj.TransportConfig()
    transport.port, transport.boundAddress = port, HOST
    transport_id = ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, transport)
    ep.libStart()
    ep.audDevManager().setNullDev()
    return ep, int(ep.transportGetInfo(transport_id).localName.rsplit(":", 1)[1])


def account_config(uri: str) -> Any:
    """A loopback account: no ICE, no STUN, media bound to HOST."""
    import pjsua2 as pj

    account_cfg = pj.AccountConfig()
    account_cfg.idUri = uri
    account_cfg.natConfig.iceEnabled = False
    account_cfg.natConfig.sipStunUse = pj.PJSUA_STUN_USE_DISABLED
    account_cfg.natConfig.mediaStunUse = pj.PJSUA_STUN_USE_DISABLED
    account_cfg.mediaConfig.transportConfig.boundAddress = HOST
    return account_cfg


def serve(*, port: int, log: IO[str], code: int, duration_s: float) -> None:
    """Run the endpoint until SIGTERM or `duration_s`; PJSUA2 is loaded only here."""
    import pjsua2 as pj

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    class Counter(pj.Account):
        def __init__(self) -> None:
            super().__init__()
            self.calls: dict[int, pj.Call] = {}

        def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
            invite = parse_invite(prm.rdata.wholeMsg, received_at=time.time())
            log.write(json.dumps(asdict(invite)) + "\n")
            log.flush()
            call = pj.Call(self, prm.callId)
            self.calls[prm.callId] = call  # SWIG: the call must outlive this callback
            op = pj.CallOpParam(True)
            op.statusCode = code
            call.answer(op)

        def forget_ended(self) -> None:
            for call_id, call in list(self.calls.items()):
                if not call.isActive():
                    del self.calls[call_id]

    ep, bound = open_endpoint(port)
    account = Counter()
    account.create(account_config(f"sip:counter@{HOST}:{bound}"))
    signal.signal(signal.SIGTERM, stop)
    print(f"{READY_MARK} {bound}", flush=True)
    deadline = time.time() + duration_s
    while not stopping and time.time() < deadline:
        ep.libHandleEvents(10)
        account.forget_ended()
    ep.hangupAllCalls()
    give_up = time.time() + 1.0
    while time.time() < give_up and account.calls:
        ep.libHandleEvents(10)
        account.forget_ended()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.invite_counter",
        description="Log every SIP INVITE on a loopback port as a JSON line and answer it.",
    )
    parser.add_argument("--port", type=int, required=True, help="UDP port (0 = any)")
    parser.add_argument("--log", type=Path, required=True, help="JSON-lines file of INVITEs")
    parser.add_argument("--code", type=int, default=486, help="final answer (default 486)")
    parser.add_argument("--duration", type=float, default=3600.0, help="give up after S seconds")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args: Any = _parser().parse_args(argv)
    with args.log.open("a") as log:
        serve(port=args.port, log=log, code=args.code, duration_s=args.duration)
    sys.stdout.flush()
    os._exit(0)  # skip PJSUA2's teardown, which can abort the interpreter


if __name__ == "__main__":
    main()
