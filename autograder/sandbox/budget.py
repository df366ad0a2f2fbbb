"""A submission's time budget: the wall-clock seconds all its sandboxed workers together may take.

A per-call timeout alone lets a submission whose every function sleeps just under it hold a grading process for
(number of calls) x (timeout): 69 calls x 10 s, or the cnn's 7 x 90 s. One :class:`Budget` is shared by every
:class:`~autograder.sandbox.Sandbox` of one submission (the public cases in one, the hidden ones in a fresh second
one): each load and call may take at most what is left of it, and once it is spent a call raises ``CallTimeout``
at once, without running. What counts is the time the grader waits on a worker: starting it, loading the source,
and every call.
"""
from __future__ import annotations

import math
import threading
import time

__all__ = ["Budget", "BUDGET_SPENT", "BUDGET_CUT"]

# Messages the grader reports (tests import and match them).
BUDGET_SPENT = "the submission's time budget of {budget_s:g} s ran out: {function}() was not run"
BUDGET_CUT = ("the submission's time budget of {budget_s:g} s ran out during {function}(); the worker was "
              "killed")


class Budget:
    """``total_s`` wall-clock seconds, charged by every Sandbox that shares this object (thread-safe)."""

    def __init__(self, total_s: float):
        if isinstance(total_s, bool) or not isinstance(total_s, (int, float)) or not math.isfinite(total_s) \
                or total_s <= 0:
            raise ValueError(f"Budget total_s must be a positive finite number of seconds, got {total_s!r}")
        self.total_s = float(total_s)
        self._spent = 0.0
        self._lock = threading.Lock()

    @property
    def spent_s(self) -> float:
        return self._spent

    def left(self) -> float:
        """Seconds still available (0.0 once spent)."""
        return max(0.0, self.total_s - self._spent)

    @property
    def exhausted(self) -> bool:
        return self.left() <= 0.0

    def charge(self, seconds: float) -> None:
        with self._lock:
            self._spent += max(0.0, seconds)

    def deadline(self, limit_s: float) -> tuple[float, bool]:
        """``(time.monotonic() deadline, True when the budget rather than limit_s sets it)`` for a wait from now."""
        left = self.left()
        return time.monotonic() + min(limit_s, left), left < limit_s

    def __repr__(self):
        return f"Budget(total_s={self.total_s:g}, spent_s={self._spent:.3f})"
