"""A scriptable SIP phone: `start.py check-call` and the end-to-end tests call with it.

Each phone is its own process (PJSUA2 can abort the interpreter at exit): it places or answers
calls, plays WAVs into them (at fixed times, or each once the far end has spoken and gone
quiet), records what the far end sends, writes one JSON result and exits. Callers use the API
below; `python -m callcheck.phone --help` shows the CLI. The parts: what a phone reports
(`callcheck.phone_result`), one running in the background (`callcheck.phone_process`), its
command line (`callcheck.phone_cli`) and its PJSUA2 side (`callcheck.pjsua_phone`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from callcheck.phone_cli import main
from callcheck.phone_process import PhoneProcess
from callcheck.phone_result import CallResult, Invite, PhoneError, PhoneResult, Play

__all__ = [
    "CallResult",
    "Invite",
    "PhoneError",
    "PhoneProcess",
    "PhoneResult",
    "Play",
    "answer_once",
    "dial",
    "dial_by_ear",
    "start_answering",
    "start_dialing",
    "start_recorded_dial",
]


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
    calls: int = 1,
) -> PhoneProcess:
    """Place one call in the background; the phone gives up after `timeout` seconds.

    `headers` go on the INVITE (a carrier's `X-Customer-Id`); `bind` is the loopback address
    the phone calls from (SIP and RTP), e.g. 127.0.0.2 to test a trunk's allowed addresses.
    `calls` places that many at once from one process, each with the same script (a bench's
    load: one PJSUA endpoint costs less CPU per call than a process each).
    """
    argv = ["dial", "--uri", uri, "--from-user", from_user, "--duration", str(timeout)]
    argv += ["--calls", str(calls)]
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


if __name__ == "__main__":
    main()
