"""livekit-rtc's native log records kept in the native library, not sent to Python one by one.

livekit 1.1.21 (the version livekit-agents 1.8.9 pins) starts its Rust runtime with log
capture on, and then forwards every record at every level: in a call, ~145 a second per call
process, nearly all libwebrtc's debug lines about its ICE connection checks. Each is formatted
in Rust, sent as an FFI event of its own, taken up under the GIL by a Rust thread, parsed in
Python and dropped there (Python keeps no record under INFO): ~0.6 % of a core per call
(`python -m bench.native_logs`; `bench/README.md`). Later livekit releases
filter at the source (`LK_FFI_LOG_LEVEL`, warnings by default); this does the same for the
pinned one.

`keep_native` starts the runtime in the call process and initialises it again with capture
off: Rust then logs through its own logger, `env_logger`, which writes what `RUST_LOG` allows
to the worker's stderr, in its own format. Dialroom sets `RUST_LOG=warn` unless the operator
set it, so the warnings and errors that reached the worker's log still do (as
`[<time> WARN  <target>] <message>` lines instead of JSON ones).
"""

from __future__ import annotations

import logging
import os

from livekit.rtc._ffi_client import FfiClient, ffi_event_callback
from livekit.rtc.version import __version__ as rtc_version

logger = logging.getLogger("dialroom.worker")

DEFAULT_RUST_LOG = "warn"


def keep_native() -> None:
    """In this process, livekit-rtc's log records stay in Rust, at `RUST_LOG` (default warn).

    Call once in a call process, before anything connects; later calls change nothing.
    """
    # env_logger reads RUST_LOG once, when the runtime first starts (just below)
    os.environ.setdefault("RUST_LOG", DEFAULT_RUST_LOG)
    ffi = FfiClient.instance  # starts the runtime, with capture on (livekit's own call)
    try:
        ffi._ffi_lib.livekit_ffi_initialize(
            ffi_event_callback, False, b"python", rtc_version.encode("ascii")
        )
    except Exception:  # a changed native library: keep livekit's behaviour, say so once
        logger.warning("livekit-rtc's log capture is left on", exc_info=True)
