"""A sampling profile of one call process in the middle of a loaded round.

py-spy attaches to the running process from outside (it reads the process' memory; it needs
ptrace rights, which root or the process' own user has unless the kernel's Yama setting
forbids it), so the call being measured runs unchanged: `--nonblocking` never pauses it. py-spy
sees only the threads that run Python; the threads livekit-rtc runs in Rust (media, network,
the tokio runtime) are not in it. So beside the profile this module reads the CPU time of every
thread of the process from /proc, by thread name, over the same window.

Files in the run folder: `profile-call.speedscope.json` (open it at https://www.speedscope.app),
`profile-call.txt` (the top functions and the threads, as printed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import psutil

PY_SPY = Path(sys.executable).with_name("py-spy")
TOP = 15
RATE_HZ = 100


class CallProfile:
    """Profiles one process for `duration_s`, in a thread, once `pick()` names it."""

    def __init__(self, folder: Path, *, delay_s: float, duration_s: float) -> None:
        self.folder = folder
        self._delay_s = delay_s
        self._duration_s = duration_s
        self._thread: threading.Thread | None = None
        self.summary = ""

    def start(self, pick: Callable[[], int | None]) -> None:
        """`pick` names the pid to profile when the delay is over (None: nothing to profile)."""
        self._thread = threading.Thread(target=self._run, args=(pick,), daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def _run(self, pick: Callable[[], int | None]) -> None:
        time.sleep(self._delay_s)
        pid = pick()
        if pid is None:
            self.summary = "profile: no call process was busy"
            return
        out = self.folder / "profile-call.speedscope.json"
        before = thread_times(pid)
        argv = [str(PY_SPY), "record", "-p", str(pid), "-o", str(out), "--format", "speedscope"]
        argv += ["--duration", str(int(self._duration_s)), "--nonblocking", "--rate", str(RATE_HZ)]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        after = thread_times(pid)
        if done.returncode != 0 or not out.is_file():
            self.summary = f"profile: py-spy failed ({done.returncode}): {done.stderr[-500:]}"
            return
        lines = [f"call process {pid}, {self._duration_s:.0f} s, py-spy {out.name}"]
        lines += top_functions(out, self._duration_s)
        lines += thread_table(before, after, self._duration_s)
        self.summary = "\n".join(lines)
        (self.folder / "profile-call.txt").write_text(self.summary + "\n")


def thread_times(pid: int) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) of each thread of `pid`, with its name."""
    times: dict[int, tuple[str, float]] = {}
    try:
        threads = psutil.Process(pid).threads()
    except psutil.Error:
        return times
    for thread in threads:
        try:
            name = Path(f"/proc/{pid}/task/{thread.id}/comm").read_text().strip()
        except OSError:
            name = "?"
        times[thread.id] = (name, thread.user_time + thread.system_time)
    return times


def thread_table(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], seconds: float
) -> list[str]:
    """% of one core per thread name over the window, busiest first."""
    by_name: Counter[str] = Counter()
    for tid, (name, cpu) in after.items():
        by_name[name] += cpu - before.get(tid, (name, 0.0))[1]
    total = sum(by_name.values())
    lines = [f"threads (CPU over the window, all threads {100 * total / seconds:.1f} % of a core):"]
    for name, cpu in by_name.most_common(TOP):
        lines.append(f"  {100 * cpu / seconds:6.1f} %  {name}")
    if gone := len(before.keys() - after.keys()):
        lines.append(f"  ({gone} threads ended inside the window, the call with them: not counted)")
    return lines


def top_functions(speedscope: Path, seconds: float) -> list[str]:
    """The functions that held the most samples, by self time and by total time."""
    data = json.loads(speedscope.read_text())
    frames = [
        f"{f['name']} ({os.path.basename(f.get('file', '?'))}:{f.get('line', '?')})"
        for f in data["shared"]["frames"]
    ]
    own: Counter[int] = Counter()
    total: Counter[int] = Counter()
    thread_samples: Counter[str] = Counter()
    count = 0
    for profile in data["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            count += weight
            thread_samples[profile["name"]] += weight
            if stack:
                own[stack[-1]] += weight
            for index in set(stack):
                total[index] += weight
    if not count:
        return ["no Python samples"]
    busy = 100 * count / seconds  # py-spy weighs each sample in seconds (1 / rate)
    lines = [f"Python threads busy (not idle) {busy:.1f} % of the window; by thread:"]
    lines += [f"  {100 * n / count:5.1f} %  {name}" for name, n in thread_samples.most_common(8)]
    lines.append("self (the function itself was running):")
    lines += [f"  {100 * n / count:5.1f} %  {frames[i]}" for i, n in own.most_common(TOP)]
    lines.append("total (on the stack):")
    lines += [f"  {100 * n / count:5.1f} %  {frames[i]}" for i, n in total.most_common(TOP)]
    return lines
