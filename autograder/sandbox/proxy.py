"""The grader's side of the sandbox: start a worker, load the student's source, call functions, kill everything.

Failure policy (what the grader relies on: "this call failed, the next call still gets graded"):

- a student exception -> ``StudentError``; the worker lives on.
- a value that cannot cross (an object, an object array, a generator, too big) -> ``InvalidResult``; if the
  *grader's* check of the frame fails (the worker lied about what it sent) the worker is killed as well.
- a timeout -> ``CallTimeout``; a dead worker (exit, SystemExit, signal, OOM, CPU limit) -> ``WorkerCrashed``.
  In both cases the whole worker (process group, cgroup, pid namespace) is killed, and the NEXT ``call()`` starts a
  fresh worker and re-executes the preamble and the source (``Sandbox.restarts`` counts this). ``restart()`` does
  it eagerly.
- if loading the source itself crashed or timed out, no automatic restart happens (it would fail again at the
  cost of another timeout): every call raises ``WorkerCrashed`` with the load's reason until ``restart()``.
- every wait on the worker (start, load, call) is charged to the submission's :class:`~.budget.Budget` (shared by
  its Sandboxes, or one of ``Limits.budget_s`` per Sandbox); a call may take at most what is left, and once it is
  spent every call raises ``CallTimeout`` (``BUDGET_SPENT``) at once and a Sandbox not yet started never starts.
"""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

from autograder.student.convkit_check import codec as C

from . import protocol as P
from .budget import BUDGET_CUT, BUDGET_SPENT, Budget
from .cpuclock import Stretch, clock_readable, worker_pid
from .errors import (CallTimeout, InvalidResult, NotDefined, ProtocolError, SandboxError, StudentError, WorkerCrashed,
                     student_frames)
from .layers import Limits, Plan, build_plan

__all__ = ["Sandbox", "SandboxError", "StudentError", "CallTimeout", "WorkerCrashed", "InvalidResult",
           "NotDefined", "ProtocolError", "kill_all"]

_HERE = Path(__file__).resolve().parent
_BOOT_SRC = (_HERE / "worker_boot.py").read_text()
_PROTO_SRC = (_HERE / "protocol.py").read_text()
_CODEC_SRC = Path(C.__file__).read_text()
# Output the grader keeps per reply even if the worker claims more (its own cap is Limits.max_output_bytes).
_MAX_NAMES = 10_000
# Every Sandbox with a live worker, so kill_all() can end them when the grader itself must die; once it has run,
# no worker starts (the lock makes "not shutting down, so create the cgroup and start" one step).
_LIVE: "weakref.WeakSet[Sandbox]" = weakref.WeakSet()
_SPAWN_LOCK = threading.Lock()
_SHUTDOWN = threading.Event()
SHUTTING_DOWN = "the grader is shutting down: no new sandbox worker is started"


def _env(scratch: str) -> dict:
    # Nothing inherited: no PYTHONPATH, no course paths, no credentials; one BLAS thread (RLIMIT_AS needs it).
    return {"PATH": "/usr/bin:/bin", "HOME": scratch, "TMPDIR": scratch, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def _text(x, cap: int) -> str:
    return x[:cap] if type(x) is str else ""


def kill_all() -> None:
    """Kill every live worker of this process, with its cgroups and scratch dirs (the grader is about to die)."""
    with _SPAWN_LOCK:
        _SHUTDOWN.set()
    for sandbox in list(_LIVE):
        try:
            sandbox.close()
        except Exception:  # best effort: the process exits next
            pass


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


class Sandbox:
    """A sandboxed worker holding one student's source. Use as a context manager; see the module docstring."""

    def __init__(self, student_source: str, limits: Limits | None = None, trusted_preamble: str = "",
                 budget: Budget | None = None):
        if not isinstance(student_source, str):
            raise TypeError(f"student_source must be str, got {type(student_source).__name__}")
        if not isinstance(trusted_preamble, str):
            raise TypeError(f"trusted_preamble must be str, got {type(trusted_preamble).__name__}")
        if budget is not None and not isinstance(budget, Budget):
            raise TypeError(f"budget must be an autograder.sandbox.Budget, got {type(budget).__name__}")
        self.source, self.preamble = student_source, trusted_preamble
        self.limits = limits or Limits()
        self.budget = budget if budget is not None else Budget(self.limits.budget_s)
        self.caps = C.Caps(array_bytes=self.limits.max_array_bytes, total_bytes=4 * self.limits.max_array_bytes,
                           header_bytes=max(16 << 20, 8 * self.limits.max_output_bytes))
        self.load_report: dict | None = None
        self.layers: list[str] = []
        self.missing: dict[str, str] = {}
        self.restarts = 0
        self.startup_s: float | None = None
        self.last_output = {"stdout": "", "stderr": ""}
        self._proc = None
        self._worker: int | None = None
        self._plan: Plan | None = None
        self._load_failed: str | None = None
        self._fds: list[int] = []
        self._pidfd = None
        self._drain: _Drain | None = None
        self._raw = bytearray()

    # ------------------------------------------------------------------------------------------------ lifecycle
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def start(self):
        """Start the worker and load the source; ``load_report`` says how loading went (it never raises for it)."""
        if self._proc is None:
            if self.budget.exhausted:
                self._load_failed = BUDGET_SPENT.format(budget_s=self.budget.total_s, function="load")
                if self.load_report is None:
                    self.load_report = {"ok": False, "error": self._load_failed, "error_type": None, "names": [],
                                        "callables": [], "stdout": "", "stderr": "", "crashed": False,
                                        "timed_out": True}
                return self
            t0 = time.perf_counter()
            try:
                self._spawn()
                report = self._load()
            finally:
                self.startup_s = time.perf_counter() - t0
                self.budget.charge(self.startup_s)
            if self.load_report is None:
                self.load_report = report
        return self

    def restart(self):
        """Kill the worker (if any) and start a fresh one, re-executing the preamble and the source."""
        self._kill()
        self._load_failed = None
        self.restarts += 1
        self.start()

    def close(self):
        """Kill the worker and everything it started; remove its scratch dir and cgroup."""
        self._kill()

    @property
    def raw_output(self) -> str:
        """What the worker wrote straight to fds 1 and 2 (C extensions, os.write), capped."""
        return (bytes(self._raw) + (bytes(self._drain.buf) if self._drain else b"")).decode("utf-8", "replace")

    # ------------------------------------------------------------------------------------------------ calls
    def has(self, name: str) -> bool:
        """Is a callable with that name defined by the preamble or the student's source?"""
        return bool(self.load_report) and name in self.load_report["callables"]

    def call(self, name: str, args=(), kwargs=None, timeout: float | None = None):
        """Call ``name(*args, **kwargs)`` in the worker and return the validated plain value."""
        if not isinstance(name, str):
            raise TypeError(f"name must be str, got {type(name).__name__}")
        try:
            # The named test functions of a case (the codec's CALLABLES) are sent by name.
            tree, arrays = C.encode((list(args), dict(kwargs or {})), self.caps, named=True)
            blobs = [C.to_npy(a) for a in arrays]
        except C.CodecError as exc:
            raise TypeError(f"arguments of {name}() cannot be sent to the sandbox: {exc}") from None
        if self.budget.exhausted:
            raise CallTimeout(BUDGET_SPENT.format(budget_s=self.budget.total_s, function=name))
        if self._load_failed:
            raise WorkerCrashed(self._load_failed)
        if self._proc is None:
            self.restarts += 1
            self.start()
            if self.budget.exhausted and self._load_failed:
                raise CallTimeout(BUDGET_SPENT.format(budget_s=self.budget.total_s, function=name))
            if self._load_failed:
                raise WorkerCrashed(self._load_failed)
        limit = timeout or self.limits.call_timeout_s
        deadline, by_budget = self.budget.deadline(limit)
        cut = BUDGET_CUT.format(budget_s=self.budget.total_s, function=name) if by_budget else None
        t0 = time.monotonic()
        # Past the budget's deadline nothing is stretched (the budget is wall-clock time); past the timeout, the
        # time the worker waited for a CPU is added (cpuclock.py).
        stretch = None if by_budget else Stretch(self._worker, t0, limit, self.budget.deadline(math.inf)[0])
        try:
            rep, rblobs = self._exchange({"op": "call", "name": name, "payload": tree}, blobs, deadline, "call",
                                         limit, cut, stretch)
        finally:
            self.budget.charge(time.monotonic() - t0)
        if rep.get("ok") is True:
            try:
                return C.decode(rep.get("value"), rblobs, self.caps)
            except C.CodecError as exc:
                self._kill()
                raise InvalidResult(f"{name}() returned a value the grader refuses: {exc}") from None
        kind, tname = rep.get("kind"), _text(rep.get("type"), 200)
        message, tb = _text(rep.get("message"), 4000), _text(rep.get("traceback"), 16000)
        if kind == "missing":
            raise NotDefined(f"{name!r} is not defined by the submission")
        if kind == "invalid_result":
            raise InvalidResult(f"{name}() returned a value that cannot be graded: {message}")
        mro = rep.get("mro")
        mro = [_text(n, 200) for n in mro[:16]] if isinstance(mro, list) else []
        raise StudentError(tname or "Exception", message, tb, mro, student_frames(rep.get("frames")))

    # ------------------------------------------------------------------------------------------------ internals
    def _spawn(self):
        r_in, w_in = os.pipe()
        r_out, w_out = os.pipe()
        r_log, w_log = os.pipe()
        main = threading.current_thread() is threading.main_thread()
        try:
            with _SPAWN_LOCK:
                if _SHUTDOWN.is_set():
                    os.close(w_in)
                    os.close(r_out)
                    raise WorkerCrashed(SHUTTING_DOWN)
                _LIVE.add(self)
                plan = build_plan(self.limits, fd_in=r_in, fd_out=w_out, parent_pid=os.getpid() if main else None)
                self._plan = plan
                cmd = plan.prefix + [sys.executable, "-I", "-B", "-c", _BOOT_SRC, _PROTO_SRC, _CODEC_SRC,
                                                                         json.dumps(plan.config)]
                scratch = plan.scratch_host or plan.config["scratch"]
                self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=w_log, stderr=w_log,
                                              pass_fds=(r_in, w_out), env=_env(scratch),
                                              cwd=plan.scratch_host or "/", start_new_session=True, close_fds=True)
        finally:
            for fd in (r_in, w_out, w_log):
                os.close(fd)
        os.set_blocking(w_in, False)
        self._w, self._r = w_in, r_out
        self._fds = [w_in, r_out]
        try:
            self._pidfd = os.pidfd_open(self._proc.pid) if hasattr(os, "pidfd_open") else None
        except OSError:
            self._pidfd = None
        if self._drain is not None:
            self._raw += self._drain.buf
        self._drain = _Drain(r_log, self.limits.max_output_bytes)
        self._drain.start()
        deadline = time.monotonic() + self.limits.load_timeout_s
        try:
            ready, _ = self._recv(deadline, "start", self.limits.load_timeout_s)
        except SandboxError as exc:
            raise WorkerCrashed(f"the sandbox worker failed to start: {exc}\n{self.raw_output[-2000:]}") from None
        child_layers = [x for x in ready.get("layers", []) if type(x) is str]
        self.layers = ["rlimits"] + [x for x in child_layers if x != "rlimits"] + plan.layers
        self.missing = dict(plan.missing)
        self.missing.update({k: _text(v, 500) for k, v in dict(ready.get("missing", {})).items() if type(k) is str})
        if plan.cgroup is not None:
            inside = plan.cgroup.holds(self._proc.pid)
            for controller, layer in (("pids", "pids-limit"), ("cpu", "cpu-share")):
                if controller in inside:
                    self.layers.append(layer)
                elif controller in plan.cgroup.controllers:
                    self.missing[layer] = f"the worker could not be moved into its {controller} cgroup"
        self.layers = list(dict.fromkeys(self.layers))
        members = plan.cgroup.pids() if plan.cgroup else []
        self._worker = worker_pid(self._proc.pid, members, "bubblewrap" in plan.layers)
        if clock_readable(self._worker):
            self.layers.append("own-clock")
        else:
            self.missing["own-clock"] = "the worker's run-queue time cannot be read (no /proc schedstat, or bwrap "\
                                        "without a cgroup to find the worker in)"
        for name in self.layers:
            self.missing.pop(name, None)

    def _load(self) -> dict:
        deadline, by_budget = self.budget.deadline(self.limits.load_timeout_s)
        report = {"ok": False, "error": None, "error_type": None, "names": [], "callables": [], "stdout": "",
                  "stderr": "", "crashed": False, "timed_out": False}
        cut = BUDGET_CUT.format(budget_s=self.budget.total_s, function="load") if by_budget else None
        try:
            rep, _ = self._exchange({"op": "load", "source": self.source, "preamble": self.preamble}, [], deadline,
                                    "load", self.limits.load_timeout_s, cut)
        except CallTimeout as exc:
            self._load_failed = str(exc) if by_budget else \
                f"loading the submission took longer than {self.limits.load_timeout_s:g} s"
            report.update(error=self._load_failed, timed_out=True)
            return report
        except (WorkerCrashed, ProtocolError) as exc:
            self._load_failed = f"loading the submission crashed the worker: {exc}"
            report.update(error=self._load_failed, crashed=True)
            return report
        names = [n for n in rep.get("names", []) if type(n) is str][:_MAX_NAMES]
        callables = [n for n in rep.get("callables", []) if type(n) is str][:_MAX_NAMES]
        report.update(ok=rep.get("ok") is True, names=names, callables=callables, **self.last_output)
        if not report["ok"]:
            report.update(error=_text(rep.get("traceback"), 16000), error_type=_text(rep.get("type"), 200))
        return report

    def _exchange(self, header, blobs, deadline, what, limit, cut=None, stretch=None):
        """Send a request and read its reply by ``deadline`` (moved by ``stretch`` when the worker was kept from
        running); ``cut``: the timeout's message when the budget, not ``limit``, set the deadline."""
        try:
            P.write_frame(self._w, header, blobs, deadline)
        except P.FrameTimeout:
            self._kill()
            raise CallTimeout(cut or f"the worker did not accept the {what} request in time") from None
        except P.PeerClosed:
            pass  # the reply read below reports the crash with its reason
        return self._recv(deadline, what, limit, cut, stretch)

    def _recv(self, deadline, what, limit, cut=None, stretch=None):
        try:
            while stretch is not None:
                try:
                    P.wait_readable(self._r, deadline, self._pidfd)
                    break
                except P.FrameTimeout:
                    deadline = stretch.extend()
                    if deadline is None:
                        raise
            # The whole reply must arrive by the deadline (a second more for one that began just before it).
            deadline = max(deadline, time.monotonic() + 1.0) if stretch is not None else deadline
            header, blobs = P.read_frame(self._r, self.caps, deadline, self._pidfd)
        except P.FrameTimeout:
            self._kill()
            raise CallTimeout(cut or f"the {what} ran longer than {limit:g} s; the worker was killed") from None
        except P.PeerClosed:
            reason = self._exit_reason()
            self._kill()
            raise WorkerCrashed(reason) from None
        except P.FrameError as exc:
            self._kill()
            raise ProtocolError(f"the worker broke the protocol during {what}: {exc}") from None
        cap = self.limits.max_output_bytes
        self.last_output = {"stdout": _text(header.get("stdout"), cap + 100),
                            "stderr": _text(header.get("stderr"), cap + 100)}
        return header, blobs

    def _exit_reason(self) -> str:
        """How the worker died, read without reaping it (its pid must stay reserved until killpg ran)."""
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            try:
                info = os.waitid(os.P_PID, self._proc.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
            except (ChildProcessError, AttributeError):  # no waitid (macOS): reap it, the group id goes with it
                try:
                    rc = self._proc.wait(timeout=1)
                except subprocess.TimeoutExpired:
                    break
                return _status_reason(-rc, os.CLD_KILLED if hasattr(os, "CLD_KILLED") else 2) if rc < 0 \
                    else _status_reason(rc, 1)
            if info is not None:
                status = info.si_status
                # bwrap reports a child killed by signal N as exit status 128 + N.
                if (self._plan and "bubblewrap" in self._plan.layers and info.si_code == os.CLD_EXITED
                        and 128 < status < 128 + 65):
                    return _status_reason(status - 128, os.CLD_KILLED)
                return _status_reason(status, info.si_code)
            time.sleep(0.005)
        return _status_reason(None)

    def _kill(self):
        proc, plan = self._proc, self._plan
        if proc is not None:
            if proc.returncode is None:  # not reaped yet, so the group id cannot have been reused
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if plan is not None and plan.cgroup is not None:
                plan.cgroup.kill()  # setsid daemons and fork bombs left the group but not the cgroup
            try:
                proc.kill()
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        for fd in self._fds + ([self._pidfd] if self._pidfd is not None else []):
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds, self._pidfd, self._proc = [], None, None
        _LIVE.discard(self)
        if self._drain is not None:
            self._drain.join(timeout=2)
        if plan is not None:
            if plan.cgroup is not None:
                plan.cgroup.remove()
            if plan.scratch_host:
                import shutil
                shutil.rmtree(plan.scratch_host, ignore_errors=True)
            self._plan = None
