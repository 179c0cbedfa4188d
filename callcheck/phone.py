"""A scriptable SIP phone: `start.py check-call` and the end-to-end tests call with it.

Each phone is its own process (PJSUA2 can abort the interpreter at exit): it places or answers
calls, plays WAVs into them (at fixed times, or each once the far end has spoken and gone
quiet), records what the far end sends, writes one JSON result and exits. Callers use the API
below; `python -m callcheck.phone --help` shows the CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from callcheck.ready import wait_ready

REPO_ROOT = Path(__file__).resolve().parents[1]
PHONE_COMMAND = [sys.executable, "-m", "callcheck.phone"]
READY_MARK = "PHONE READY"  # printed once the SIP port is bound; value is the local port


class PhoneError(RuntimeError):
    """The phone process died, hung, or wrote no result."""


@dataclass(kw_only=True)
class Play:
    file: Path
    duration_s: float
    started_at: float  # time.time() when the player was connected to the call


@dataclass(kw_only=True)
class Invite:
    request_uri: str
    from_uri: str
    to_uri: str
    call_id: str
    source: str  # ip:port the INVITE came from
    received_at: float


@dataclass(kw_only=True)
class CallResult:
    """One call as the phone saw it; timestamps are time.time(), None if it never happened."""

    status_code: int = 0  # final answer to the INVITE: 200, 486, 404, 487...
    reason: str = ""
    connected: bool = False
    invite_sent_at: float | None = None  # dial mode only
    ringing_at: float | None = None  # first 18x (dial) or our 180 (answer)
    confirmed_at: float | None = None
    media_active_at: float | None = None  # the recording starts here
    plays: list[Play] = field(default_factory=list)
    dtmf_sent: list[tuple[str, float]] = field(default_factory=list)
    dtmf_received: list[tuple[str, float]] = field(default_factory=list)  # RFC 2833, one per key
    transferred_to: str | None = None  # a REFER's target; the phone accepted it and called there
    disconnected_at: float | None = None
    remote_hangup: bool = False  # a connected call was ended by the far end
    recording: Path | None = None


@dataclass(kw_only=True)
class PhoneResult:
    mode: Literal["dial", "answer"]
    local_port: int
    calls: list[CallResult] = field(default_factory=list)
    invites: list[Invite] = field(default_factory=list)  # answer mode: every new INVITE
    error: str | None = None

    @property
    def call(self) -> CallResult:
        """The first (in dial mode, the only) call."""
        if not self.calls:
            raise PhoneError(f"phone made no call: {self.error or 'no INVITE'}")
        return self.calls[0]

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, indent=2)

    @classmethod
    def from_json(cls, text: str) -> PhoneResult:
        data = json.loads(text)
        data["calls"] = [_call_from_dict(c) for c in data["calls"]]
        data["invites"] = [Invite(**i) for i in data["invites"]]
        return cls(**data)


def _call_from_dict(data: dict[str, Any]) -> CallResult:
    plays = [Play(**{**p, "file": Path(p["file"])}) for p in data.pop("plays")]
    dtmf = [(d, t) for d, t in data.pop("dtmf_sent")]
    data["dtmf_received"] = [(d, t) for d, t in data.pop("dtmf_received", [])]
    recording = data.pop("recording")
    return CallResult(
        **data, plays=plays, dtmf_sent=dtmf, recording=Path(recording) if recording else None
    )


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


def _script_argv(
    play: Sequence[tuple[Path, float]],
    record: Path | None,
    hangup_after: float | None,
    dtmf: Sequence[tuple[str, float]],
) -> list[str]:
    argv = [arg for path, at in play for arg in ("--play", f"{path}@{at}")]
    argv += [arg for digits, at in dtmf for arg in ("--dtmf", f"{digits}@{at}")]
    if record is not None:
        argv += ["--record", str(record)]
    if hangup_after is not None:
        argv += ["--hangup-after", str(hangup_after)]
    return argv


def start_dialing(
    uri: str,
    *,
    result_dir: Path,
    play: Sequence[tuple[Path, float]] = (),
    record: Path | None = None,
    hangup_after: float | None = None,
    dtmf: Sequence[tuple[str, float]] = (),
    from_user: str = "caller",
    timeout: float = 60.0,
    headers: Mapping[str, str] | None = None,
    bind: str | None = None,
) -> PhoneProcess:
    """Place one call in the background; the phone gives up after `timeout` seconds.

    `headers` go on the INVITE (a carrier's `X-Customer-Id`); `bind` is the loopback address
    the phone calls from (SIP and RTP), e.g. 127.0.0.2 to test a trunk's allowed addresses.
    """
    argv = ["dial", "--uri", uri, "--from-user", from_user, "--duration", str(timeout)]
    for name, value in (headers or {}).items():
        argv += ["--header", f"{name}: {value}"]
    if bind is not None:
        argv += ["--bind", bind]
    argv += _script_argv(play, record, hangup_after, dtmf)
    return PhoneProcess(argv, result_dir=result_dir, name="dial")


def start_recorded_dial(
    uri: str,
    folder: Path,
    *,
    hangup_after: float,
    timeout: float = 60.0,
    play: Sequence[tuple[Path, float]] = (),
    from_user: str = "caller",
) -> PhoneProcess:
    """start_dialing with its result and what the phone hears (`heard.wav`) in `folder`, which
    it makes: one folder a caller, for tests that place several calls."""
    folder.mkdir(parents=True, exist_ok=True)
    return start_dialing(
        uri,
        result_dir=folder,
        record=folder / "heard.wav",
        hangup_after=hangup_after,
        timeout=timeout,
        play=play,
        from_user=from_user,
    )


def dial(
    uri: str,
    *,
    result_dir: Path,
    play: Sequence[tuple[Path, float]] = (),
    record: Path | None = None,
    hangup_after: float | None = None,
    dtmf: Sequence[tuple[str, float]] = (),
    from_user: str = "caller",
    timeout: float = 60.0,
    headers: Mapping[str, str] | None = None,
    bind: str | None = None,
) -> PhoneResult:
    """Place one call and wait for it to end (blocking; see start_dialing)."""
    with start_dialing(
        uri,
        result_dir=result_dir,
        play=play,
        record=record,
        hangup_after=hangup_after,
        dtmf=dtmf,
        from_user=from_user,
        timeout=timeout,
        headers=headers,
        bind=bind,
    ) as phone:
        return phone.result(timeout + 15.0)


def dial_by_ear(
    uri: str,
    *,
    result_dir: Path,
    turns: Sequence[Path],
    record: Path,
    timeout: float,
    from_user: str = "caller",
    quiet_s: float = 1.2,
    reply_timeout_s: float = 15.0,
    end_grace_s: float = 5.0,
) -> PhoneResult:
    """Place one call that takes turns by ear: each of `turns` is said once the far end has
    spoken (the greeting, then the reply to the line before) and kept quiet `quiet_s`; the phone
    hangs up `end_grace_s` after the last reply, or when `timeout` runs out (blocking)."""
    argv = ["dial", "--uri", uri, "--from-user", from_user, "--duration", str(timeout)]
    argv += [arg for wav in turns for arg in ("--turn", str(wav))]
    argv += ["--record", str(record), "--quiet-s", str(quiet_s)]
    argv += ["--reply-timeout-s", str(reply_timeout_s), "--end-grace-s", str(end_grace_s)]
    with PhoneProcess(argv, result_dir=result_dir, name="dial") as phone:
        return phone.result(timeout + 15.0)


def start_answering(
    port: int,
    *,
    result_dir: Path,
    code: int = 200,
    ring_s: float = 0.0,
    play: Sequence[tuple[Path, float]] = (),
    record: Path | None = None,
    hangup_after: float | None = None,
    dtmf: Sequence[tuple[str, float]] = (),
    max_calls: int | None = None,
    duration: float = 300.0,
) -> PhoneProcess:
    """Answer calls on `port` (0 = any; see `.port`) until `max_calls` ended or `stop()`."""
    argv = [
        "answer",
        "--port",
        str(port),
        "--code",
        str(code),
        "--ring-s",
        str(ring_s),
        "--duration",
        str(duration),
    ]
    if max_calls is not None:
        argv += ["--max-calls", str(max_calls)]
    argv += _script_argv(play, record, hangup_after, dtmf)
    return PhoneProcess(argv, result_dir=result_dir, name="answer")


def answer_once(
    port: int,
    result_dir: Path,
    *,
    play: Sequence[tuple[Path, float]],
    record: Path | None = None,
) -> PhoneProcess:
    """A callee who hears 180 Ringing for a second, answers one call (200 OK), says `play` and
    stays on the line until the far end hangs up (90 s at most)."""
    return start_answering(
        port, result_dir=result_dir, ring_s=1.0, play=play, record=record, max_calls=1, duration=90
    )


def _timed(value: str) -> tuple[str, float]:
    """`THING@SECONDS` (or just `THING`, meaning at 0 s)."""
    thing, _, at = value.rpartition("@") if "@" in value else (value, "", "0")
    return thing, float(at)


def _header(value: str) -> tuple[str, str]:
    name, sep, text = value.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"not a header (NAME: VALUE): {value}")
    return name.strip(), text.strip()


def _wav(value: str) -> Path:
    if not Path(value).is_file():
        raise argparse.ArgumentTypeError(f"no such WAV: {value}")
    return Path(value)


def _timed_wav(value: str) -> tuple[Path, float]:
    name, at = _timed(value)
    if not Path(name).is_file():
        raise argparse.ArgumentTypeError(f"no such WAV: {name}")
    return Path(name), at


TIMING_HELP = (
    "Times: --play/--dtmf count from when media is active (the recording starts then), "
    "--hangup-after from when the call is confirmed. Example: --play hello.wav@4.0"
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m callcheck.phone",
        description="A SIP phone on loopback (G.711) that writes a JSON result and exits.",
        epilog=TIMING_HELP,
    )
    modes = parser.add_subparsers(dest="mode", required=True)
    dial_p = modes.add_parser("dial", help="place one call", epilog=TIMING_HELP)
    dial_p.add_argument("--uri", required=True, help="e.g. sip:1000@127.0.0.1:5060")
    dial_p.add_argument("--from-user", default="caller", metavar="USER", help="user part of From")
    dial_p.add_argument("--port", "--from-port", type=int, default=0, help="local SIP port")
    dial_p.add_argument(
        "--header",
        type=_header,
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="extra SIP header on the INVITE (repeatable)",
    )
    dial_p.add_argument("--bind", metavar="IP", help="loopback address to call from (127.0.0.2)")
    answer_p = modes.add_parser("answer", help="answer incoming calls", epilog=TIMING_HELP)
    answer_p.add_argument("--port", type=int, required=True, help="SIP port to listen on")
    answer_p.add_argument("--code", type=int, default=200, help="final answer; 0 = ring forever")
    answer_p.add_argument("--ring-s", type=float, default=0.0, metavar="S", help="ring S s first")
    answer_p.add_argument("--max-calls", type=int, metavar="N", help="exit after N calls")
    for mode in (dial_p, answer_p):
        _add_script_args(mode)
    return parser


def _add_script_args(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--play",
        type=_timed_wav,
        action="append",
        default=[],
        metavar="WAV[@S]",
        help="play a 16-bit WAV S seconds after media is active (repeatable)",
    )
    add(
        "--dtmf",
        type=_timed,
        action="append",
        default=[],
        metavar="DIGITS[@S]",
        help="send RFC 2833 digits S seconds after media is active (repeatable)",
    )
    add(
        "--turn",
        type=_wav,
        action="append",
        default=[],
        metavar="WAV",
        help="say a WAV by ear: once the far end has spoken and gone quiet (repeatable, in order)",
    )
    add("--quiet-s", type=float, default=1.2, metavar="S", help="--turn: quiet this long = done")
    add("--reply-timeout-s", type=float, default=15.0, metavar="S", help="--turn: wait at most")
    add("--end-grace-s", type=float, default=5.0, metavar="S", help="--turn: hang up S s after")
    add("--record", type=Path, metavar="WAV", help="record the far end (2nd call: WAV-2.wav)")
    add("--hangup-after", type=float, metavar="S", help="hang up S s after confirmed")
    add("--duration", type=float, default=60.0, metavar="S", help="give up after S seconds")
    add("--result", type=Path, metavar="JSON", help="result file (default: stdout)")
    add("--verbose", action="store_true", help="PJSIP logs on the console")


def main(argv: Sequence[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.turn and args.record is None:
        parser.error("--turn listens to the far end through --record: give both")
    from callcheck.pjsua_phone import run  # pjsua2 is loaded only in the phone process

    result = run(args)
    if args.result is None:
        print(result.to_json())
    else:
        args.result.write_text(result.to_json())
    sys.stdout.flush()
    os._exit(0)  # skip PJSUA2's teardown, which can abort the interpreter


if __name__ == "__main__":
    main()
