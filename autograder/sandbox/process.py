"""One worker process: started under its isolation plan with the worker's program, its pipes and output drain,
how it died, and killing it with everything it started (process group, cgroup, scratch dir).

The policy around it (load, calls, budget, restarts) is the :class:`~.proxy.Sandbox`'s; this module owns the
processes, and :func:`kill_all` ends every live one when the grader itself must die.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

from autograder.student.convkit_check import codec as C

from .cpuclock import WORKER_FLAGS, clock_readable, worker_pid
from .errors import WorkerCrashed
from .layers import Limits, build_plan

__all__ = ["Worker", "kill_all", "SHUTTING_DOWN"]

_HERE = Path(__file__).resolve().parent
# What the worker runs, as source text (it imports nothing of the kit): its program, the framing, the codec.
_BOOT_SRC = (_HERE / "worker_boot.py").read_text()
_PROTO_SRC = (_HERE / "protocol.py").read_text()
_CODEC_SRC = Path(C.__file__).read_text()
# Every Sandbox with a live worker, so kill_all() can end them when the grader itself must die; once it has run,
# no worker starts (the lock makes "not shutting down, so create the cgroup and start" one step).
_LIVE: weakref.WeakSet = weakref.WeakSet()
_SPAWN_LOCK = threading.Lock()
_SHUTDOWN = threading.Event()
SHUTTING_DOWN = "the grader is shutting down: no new sandbox worker is started"


def _env(scratch: str) -> dict:
    # Nothing inherited: no PYTHONPATH, no course paths, no credentials; one BLAS thread (RLIMIT_AS needs it).
    return {"PATH": "/usr/bin:/bin", "HOME": scratch, "TMPDIR": scratch, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def text(x, cap: int) -> str:
    """``x`` if the worker sent a str (capped), else ""."""
    return x[:cap] if type(x) is str else ""


def kill_all() -> None:
    """Kill every live worker of this process, with its cgroups and scratch dirs (the grader is about to die)."""
    with _SPAWN_LOCK:
        _SHUTDOWN.set()
    for sandbox in list(_LIVE):
        with contextlib.suppress(Exception):  # best effort: the process exits next
            sandbox.close()


def _status_reason(status: int | None, si_code: int | None = None) -> str:
    if status is None:
        return "the worker stopped answering (its pipe closed)"
    if si_code in (getattr(os, "CLD_KILLED", 2), getattr(os, "CLD_DUMPED", 3)):
        name = signal.Signals(status).name if status in signal.Signals._value2member_map_ else str(status)
        hint = {"SIGKILL": " (memory or CPU limit, or killed)", "SIGXCPU": " (CPU time limit)",
                "SIGSEGV": " (segmentation fault)", "SIGXFSZ": " (file size limit)"}.get(name, "")
        return f"the worker was killed by {name}{hint}"
    return f"the worker exited with code {status}"


class _Drain(threading.Thread):
    """Reads the worker's fd 1/2 until EOF, keeping the first ``cap`` bytes: print(100 MB) never blocks it."""

    def __init__(self, fd: int, cap: int):
        super().__init__(daemon=True, name="convkit-sandbox-drain")
        self.fd, self.cap, self.buf, self.dropped = fd, cap, bytearray(), 0

    def run(self):
        try:
            while chunk := os.read(self.fd, 1 << 16):
                room = self.cap - len(self.buf)
                self.buf += chunk[:max(room, 0)]
                self.dropped += max(0, len(chunk) - max(room, 0))
        except OSError:
            pass
        finally:
            os.close(self.fd)


class Worker:
    """One started worker process of ``owner`` (a Sandbox, registered for :func:`kill_all` until :meth:`kill`):
    ``w``/``r`` the request and reply pipes, ``pidfd`` (None where the OS has none), ``drain`` its fds 1 and 2."""

    def __init__(self, limits: Limits, owner):
        r_in, w_in = os.pipe()
        r_out, w_out = os.pipe()
        r_log, w_log = os.pipe()
        main = threading.current_thread() is threading.main_thread()
        self.owner, self.proc, self.plan, self.drain, self.pidfd = owner, None, None, None, None
        self.w, self.r, self.fds = w_in, r_out, [w_in, r_out]
        try:
            with _SPAWN_LOCK:
                if _SHUTDOWN.is_set():
                    raise WorkerCrashed(SHUTTING_DOWN)
                _LIVE.add(owner)
                self.plan = plan = build_plan(limits, fd_in=r_in, fd_out=w_out,
                                              parent_pid=os.getpid() if main else None)
                cmd = plan.prefix + [sys.executable, *WORKER_FLAGS, _BOOT_SRC, _PROTO_SRC, _CODEC_SRC,
                                     json.dumps(plan.config)]
                scratch = plan.scratch_host or plan.config["scratch"]
                self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=w_log, stderr=w_log,
                                             pass_fds=(r_in, w_out), env=_env(scratch),
                                             cwd=plan.scratch_host or "/", start_new_session=True, close_fds=True)
        except BaseException:
            os.close(r_log)
            self.kill()  # the pipes, and the cgroup and scratch dir of a plan already made
            raise
        finally:
            for fd in (r_in, w_out, w_log):
                os.close(fd)
        os.set_blocking(w_in, False)
        try:
            self.pidfd = os.pidfd_open(self.proc.pid) if hasattr(os, "pidfd_open") else None
        except OSError:
            self.pidfd = None
        self.drain = _Drain(r_log, limits.max_output_bytes)
        self.drain.start()

    def layers(self, ready: dict) -> tuple[list[str], dict[str, str], int | None]:
        """``(layers in force, missing ones with why, the worker's pid)`` from its "ready" frame and the plan; the
        pid is None where bubblewrap's worker was not found among the cgroup's members (its clock is not read)."""
        plan, proc = self.plan, self.proc
        if plan is None or proc is None:
            raise WorkerCrashed("the worker was killed before it was ready")
        child_layers = [x for x in ready.get("layers", []) if type(x) is str]
        layers = ["rlimits"] + [x for x in child_layers if x != "rlimits"] + plan.layers
        missing = dict(plan.missing)
        missing.update({k: text(v, 500) for k, v in dict(ready.get("missing", {})).items() if type(k) is str})
        if plan.cgroup is not None:
            inside = plan.cgroup.holds(proc.pid)
            for controller, layer in (("pids", "pids-limit"), ("cpu", "cpu-share")):
                if controller in inside:
                    layers.append(layer)
                elif controller in plan.cgroup.controllers:
                    missing[layer] = f"the worker could not be moved into its {controller} cgroup"
        layers = list(dict.fromkeys(layers))
        members = plan.cgroup.pids() if plan.cgroup else []
        pid = worker_pid(proc.pid, members, "bubblewrap" in plan.layers)
        if clock_readable(pid):
            layers.append("own-clock")
        else:
            missing["own-clock"] = "the worker's run-queue time cannot be read (no /proc schedstat, or bwrap "\
                                   "without a cgroup to find the worker in)"
        for name in layers:
            missing.pop(name, None)
        return layers, missing, pid

    def exit_reason(self) -> str:
        """How the worker died, read without reaping it (its pid must stay reserved until killpg ran)."""
        proc = self.proc
        if proc is None:  # killed already: no status left to read
            return _status_reason(None)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            try:
                info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
            except (ChildProcessError, AttributeError):  # no waitid (macOS): reap it, the group id goes with it
                try:
                    rc = proc.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    break
                return _status_reason(-rc, os.CLD_KILLED if hasattr(os, "CLD_KILLED") else 2) if rc < 0 \
                    else _status_reason(rc, 1)
            if info is not None:
                status = info.si_status
                # bwrap reports a child killed by signal N as exit status 128 + N.
                if (self.plan and "bubblewrap" in self.plan.layers and info.si_code == os.CLD_EXITED
                        and 128 < status < 128 + 65):
                    return _status_reason(status - 128, os.CLD_KILLED)
                return _status_reason(status, info.si_code)
            time.sleep(0.005)
        return _status_reason(None)

    def kill(self):
        """Kill the worker and everything it started; remove its scratch dir and cgroup (idempotent)."""
        proc, plan = self.proc, self.plan
        if proc is not None:
            if proc.returncode is None:  # not reaped yet, so the group id cannot have been reused
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
            if plan is not None and plan.cgroup is not None:
                plan.cgroup.kill()  # setsid daemons and fork bombs left the group but not the cgroup
            try:
                proc.kill()
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        for fd in self.fds + ([self.pidfd] if self.pidfd is not None else []):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.fds, self.pidfd, self.proc = [], None, None
        _LIVE.discard(self.owner)
        if self.drain is not None:
            self.drain.join(timeout=2)
        if plan is not None:
            if plan.cgroup is not None:
                plan.cgroup.remove()
            if plan.scratch_host:
                import shutil
                shutil.rmtree(plan.scratch_host, ignore_errors=True)
            self.plan = None
