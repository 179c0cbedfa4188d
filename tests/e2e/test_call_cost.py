"""A call pays only for what its persona uses: on a box whose default persona is a cloud one
(real OpenAI and Azure plugins against local fakes) and that also serves the offline demo
persona on another number, NUM_AGENTS x MAX_CALLS_PER_WORKER simultaneous cloud calls are all
greeted, and no call process holds a local speech model; the one process of the worker that
does is its shared inference process, and a demo call in the same stack is still understood
and answered through it."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import psutil
import pytest

from callcheck.phone import CallResult, start_recorded_dial
from callcheck.voice import voiced_seconds
from dialroom.paths import AGENTS_DIR
from tests.support.cloud_fakes import FakeCloud
from tests.support.cloud_persona import CLOUD_PERSONA, cloud_persona
from tests.support.free_lines import wait_for_free_lines
from tests.support.stack import RunningStack, running_stack
from worker.providers.local_stt import transcribe_wav
from worker.settings import WorkerSettings

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MAX_CALLS = 3
DEMO_NUMBER = "2000"
# Mapped by a process that loaded Whisper (CTranslate2) or Piper (onnxruntime).
LOCAL_ENGINES = ("libctranslate2", "libonnxruntime", "onnxruntime_pybind11")
CALL_PROCESS_NICE = WorkerSettings.model_fields["call_process_nice"].default


def local_engines(process: psutil.Process) -> set[str]:
    """The local speech engines this process has loaded, read from its own memory map."""
    try:
        maps = Path(f"/proc/{process.pid}/maps").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return set()
    return {engine for engine in LOCAL_ENGINES if engine in maps}


def engines_by_process(stack: RunningStack) -> tuple[set[str], dict[int, set[str]]]:
    """What the worker's own process has loaded, and each of its descendants, right now."""
    main = worker_main(stack)
    return local_engines(main), {p.pid: local_engines(p) for p in main.children(recursive=True)}


def worker_main(stack: RunningStack) -> psutil.Process:
    worker = next(s for s in stack.state.services if s.name == "worker-1")
    return psutil.Process(worker.pid)


def niceness_by_part(stack: RunningStack) -> dict[str, set[int]]:
    """The niceness of the worker's main process, of its call processes (started from its
    forkserver, holding no engine) and of its inference process (the one holding engines)."""
    main = worker_main(stack)
    parts: dict[str, set[int]] = {"main": {main.nice()}, "calls": set(), "inference": set()}
    for process in main.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if local_engines(process):
                parts["inference"].add(process.nice())
            elif process.ppid() != main.pid:  # not the forkserver or resource tracker itself
                parts["calls"].add(process.nice())
    return parts


def with_demo_number(agents: Path) -> None:
    """The shipped demo persona, reachable by dialling DEMO_NUMBER."""
    demo = (AGENTS_DIR / "demo.yaml").read_text()
    (agents / "demo.yaml").write_text(f"{demo}\nnumbers: ['{DEMO_NUMBER}']\n")


def test_cloud_calls_hold_no_local_model_and_local_speech_is_shared(tmp_path: Path) -> None:
    fake = FakeCloud(speech="piper")
    with fake.in_thread():
        env = cloud_persona(tmp_path / "cloud", fake)
        with_demo_number(Path(env["AGENTS_DIR"]))
        env |= {"MAX_CALLS_PER_WORKER": str(MAX_CALLS)}
        extra = ("--persona", CLOUD_PERSONA)
        with running_stack(tmp_path / "stack", num_agents=1, env=env, extra_args=extra) as stack:
            phones = [  # NUM_AGENTS x MAX_CALLS_PER_WORKER, all at once
                start_recorded_dial(stack.state.sip_uri, tmp_path / f"cloud-{i}", hangup_after=12)
                for i in range(MAX_CALLS)
            ]
            time.sleep(8)  # every call answered and greeted by now
            in_main, during_calls = engines_by_process(stack)
            niceness = niceness_by_part(stack)
            cloud = [phone.result(timeout=90).call for phone in phones]
            # the cloud calls' jobs end a moment after their callers: a demo caller before that
            # would find every line taken and hear the busy message
            free = wait_for_free_lines(stack, MAX_CALLS, within_s=30)
            assert free == MAX_CALLS, f"{free} of {MAX_CALLS} lines free after the cloud calls"

            demo = demo_call(stack, tmp_path / "demo")
            _, after_demo = engines_by_process(stack)

    assert in_main == set(), "the worker's own process loads no speech model"
    holding = [pid for pid, engines in during_calls.items() if engines]
    assert len(during_calls) >= MAX_CALLS + 1, "call processes and the inference process ran"
    assert len(holding) == 1, "only the shared inference process holds the local models"
    assert during_calls[holding[0]] >= {"libctranslate2"}
    assert [pid for pid, engines in after_demo.items() if engines] == holding, "one, shared"

    # Call processes yield the CPU to the media relays, the worker and the shared inference.
    (main,) = niceness["main"]
    assert niceness["calls"] == {min(19, main + CALL_PROCESS_NICE)}, niceness
    assert niceness["inference"] == {main}, niceness

    for call in cloud:
        assert call.status_code == 200 and call.connected
        assert call.recording is not None and voiced_seconds(call.recording) > 1
        assert "which day" in transcribe_wav(call.recording).lower(), "every caller was greeted"

    assert demo.status_code == 200 and demo.connected and demo.recording is not None
    heard = transcribe_wav(demo.recording).lower()
    assert "which day" in heard and "tuesday" in heard, heard  # greeted, understood, answered

    # A cloud call's process imported nothing during its call: the forkserver had it all.
    late = late_import_lines(tmp_path / "stack" / "logs" / "worker-1.log")
    assert late and all(f"(persona {CLOUD_PERSONA})" not in line for line in late), late


def late_import_lines(worker_log: Path) -> list[str]:
    """`worker.late_imports`' line of each call that imported modules during the call."""
    return [line for line in worker_log.read_text().splitlines() if "during the call" in line]


def demo_call(stack: RunningStack, folder: Path) -> CallResult:
    uri = stack.state.sip_uri.replace("sip:1000@", f"sip:{DEMO_NUMBER}@")
    phone = start_recorded_dial(
        uri,
        folder,
        play=[(FIXTURES / "caller_tuesday.wav", 7.0)],  # after the ~5 s greeting
        hangup_after=25,
    )
    return phone.result(timeout=90).call
