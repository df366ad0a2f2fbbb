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

import math
import time
from typing import Any

from autograder.student.convkit_check import codec as C

from . import protocol as P
from .budget import BUDGET_CUT, BUDGET_SPENT, Budget
from .cpuclock import Stretch
from .errors import (CallTimeout, InvalidResult, NotDefined, ProtocolError, SandboxError, StudentError, WorkerCrashed,
                     student_frames)
from .layers import Limits
from .process import SHUTTING_DOWN, Worker, kill_all
from .process import text as _text

__all__ = ["Sandbox", "SandboxError", "StudentError", "CallTimeout", "WorkerCrashed", "InvalidResult",
           "NotDefined", "ProtocolError", "kill_all", "SHUTTING_DOWN"]

# Names the grader keeps of a load report even if the worker claims more.
_MAX_NAMES = 10_000


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
        self.load_report: dict[str, Any] | None = None
        self.layers: list[str] = []
        self.missing: dict[str, str] = {}
        self.restarts = 0
        self.startup_s: float | None = None
        self.last_output = {"stdout": "", "stderr": ""}
        self._wk: Worker | None = None  # the current or last worker (its proc is None once killed)
        self._worker: int | None = None  # its pid as its clock is read (cpuclock.py)
        self._load_failed: str | None = None
        self._raw = bytearray()  # what earlier workers of this Sandbox wrote to fds 1 and 2

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
        drain = self._wk.drain if self._wk else None
        return (bytes(self._raw) + (bytes(drain.buf) if drain else b"")).decode("utf-8", "replace")

    @property
    def _proc(self):
        """The live worker's process (None when there is none)."""
        return self._wk.proc if self._wk else None

    # ------------------------------------------------------------------------------------------------ calls
    def has(self, name: str) -> bool:
        """Is a callable with that name defined by the preamble or the student's source?"""
        return self.load_report is not None and name in self.load_report["callables"]

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
        if self._wk is not None:  # a killed worker: keep what it wrote
            self._raw += self._wk.drain.buf if self._wk.drain else b""
            self._wk = None
        self._wk = Worker(self.limits, self)
        deadline = time.monotonic() + self.limits.load_timeout_s
        try:
            ready, _ = self._recv(deadline, "start", self.limits.load_timeout_s)
        except SandboxError as exc:
            raise WorkerCrashed(f"the sandbox worker failed to start: {exc}\n{self.raw_output[-2000:]}") from None
        self.layers, self.missing, self._worker = self._wk.layers(ready)

    def _load(self) -> dict:
        deadline, by_budget = self.budget.deadline(self.limits.load_timeout_s)
        report: dict[str, Any] = {"ok": False, "error": None, "error_type": None, "names": [], "callables": [],
                                  "stdout": "", "stderr": "", "crashed": False, "timed_out": False}
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
            P.write_frame(self._live().w, header, blobs, deadline)
        except P.FrameTimeout:
            self._kill()
            raise CallTimeout(cut or f"the worker did not accept the {what} request in time") from None
        except P.PeerClosed:
            pass  # the reply read below reports the crash with its reason
        return self._recv(deadline, what, limit, cut, stretch)

    def _recv(self, deadline, what, limit, cut=None, stretch=None):
        wk = self._live()
        try:
            while stretch is not None:
                try:
                    P.wait_readable(wk.r, deadline, wk.pidfd)
                    break
                except P.FrameTimeout:
                    deadline = stretch.extend()
                    if deadline is None:
                        raise
            # The whole reply must arrive by the deadline (a second more for one that began just before it).
            deadline = max(deadline, time.monotonic() + 1.0) if stretch is not None else deadline
            header, blobs = P.read_frame(wk.r, self.caps, deadline, wk.pidfd)
        except P.FrameTimeout:
            self._kill()
            raise CallTimeout(cut or f"the {what} ran longer than {limit:g} s; the worker was killed") from None
        except P.PeerClosed:
            reason = wk.exit_reason()
            self._kill()
            raise WorkerCrashed(reason) from None
        except P.FrameError as exc:
            self._kill()
            raise ProtocolError(f"the worker broke the protocol during {what}: {exc}") from None
        cap = self.limits.max_output_bytes
        self.last_output = {"stdout": _text(header.get("stdout"), cap + 100),
                            "stderr": _text(header.get("stderr"), cap + 100)}
        return header, blobs

    def _live(self) -> Worker:
        """The worker an exchange talks to (every exchange follows a _spawn, which sets it)."""
        if self._wk is None:
            raise WorkerCrashed("no sandbox worker was started")
        return self._wk

    def _kill(self):
        if self._wk is not None:
            self._wk.kill()
