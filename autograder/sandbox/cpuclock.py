"""Timing a call on the worker's own clock: the time it was kept from running does not count against it.

A call's timeout is wall-clock time, so on a crowded machine (other submissions' workers, other users) an honest
function can run out of time without having used it. Linux counts, per thread, the time it sat runnable on a run
queue waiting for a CPU (``/proc/PID/schedstat``, second field, ns). When a call's deadline passes, the grader
moves it by the time the worker's main thread waited so since the call began -- up to ``MAX_STRETCH`` times the
timeout and never past the submission's budget. A sleeper or an endless loop on an idle machine waits for nothing
and is stopped at the timeout as before.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

__all__ = ["MAX_STRETCH", "WORKER_FLAGS", "worker_pid", "clock_readable", "Stretch"]

MAX_STRETCH = 3.0
# The interpreter's flags of every worker (process.Worker): isolated, no site module, no .pyc written. A worker's
# command line starts with them, which is how it is told from bubblewrap's own processes.
WORKER_FLAGS = ("-I", "-S", "-B", "-c")
_BOOT_ARGV = b"\0".join([sys.executable.encode(), *(f.encode() for f in WORKER_FLAGS)]) + b"\0"


def _run_delay_s(pid: int) -> float | None:
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def worker_pid(proc_pid: int, members: list[int], wrapped: bool) -> int | None:
    """The worker's host pid: the started process itself, or, inside bubblewrap, the cgroup member that runs the
    worker's command line (bwrap's own processes are the others)."""
    if not wrapped:
        return proc_pid
    for pid in members:
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(_BOOT_ARGV):
                return pid
        except OSError:
            continue
    return None


def clock_readable(pid: int | None) -> bool:
    return pid is not None and _run_delay_s(pid) is not None


class Stretch:
    """The deadline of one call, moved by the time the worker waited for a CPU since ``begin``."""

    def __init__(self, pid: int | None, begin: float, limit_s: float, hard_deadline: float):
        self.pid, self.begin, self.limit_s = pid, begin, limit_s
        self.cap = min(hard_deadline, begin + MAX_STRETCH * limit_s)
        self.wait0 = _run_delay_s(pid) if pid else None

    def extend(self) -> float | None:
        """A later deadline, or None when the worker had its time (or its clock cannot be read)."""
        if self.wait0 is None or self.pid is None:
            return None
        now_wait = _run_delay_s(self.pid)
        if now_wait is None:
            return None
        deadline = min(self.begin + self.limit_s + (now_wait - self.wait0), self.cap)
        return deadline if deadline > time.monotonic() + 1e-3 else None
