"""The phone process' command line: `python -m callcheck.phone --help`.

Callers build these arguments through `callcheck.phone`'s functions; the parser checks them in
the phone process, which then loads PJSUA2 (`callcheck.pjsua_phone`) and writes its result.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

# Calls one endpoint holds at once: pjsua2-python's wheel is built with PJSUA_MAX_CALLS 4
# (a fifth `makeCall` fails PJ_ETOOMANY whatever `maxCalls` says; measured 2026-12-06).
MAX_CALLS = 4


def _timed(value: str) -> tuple[str, float]:
    """`THING@SECONDS` (or just `THING`, meaning at 0 s)."""
    thing, _, at = value.rpartition("@") if "@" in value else (value, "", "0")
    return thing, float(at)


def _header(value: str) -> tuple[str, str]:
    name, sep, text = value.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"not a header (NAME: VALUE): {value}")
    return name.strip(), text.strip()


def _calls(value: str) -> int:
    n = int(value)
    if not 1 <= n <= MAX_CALLS:
        raise argparse.ArgumentTypeError(f"1 to {MAX_CALLS} calls (PJSUA's ceiling), not {n}")
    return n


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
    dial_p.add_argument(
        "--calls",
        type=_calls,
        default=1,
        metavar="N",
        help=f"place N calls at once (1-{MAX_CALLS}), each with the same script "
        "(--record: WAV, WAV-2.wav, ...)",
    )
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
