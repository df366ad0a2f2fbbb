"""The kit's own time budgets, measured (a report, not a test: the suite asserts no timings).

Run by ``make bench`` or ``OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/timings.py``. Each row is one budget
the kit promises, measured here and printed as ``budget / measured`` (above 1.0: within budget), so a slow machine
reads as a ratio rather than as a flaky test:

- the sandbox: start to first result (NumPy imported in the worker), per call on a 4x4 array, one 1 MB array, for
  the bubblewrap layer (when this machine has it) and for the plain one;
- the reference on every array case of each assignment (a correct submission's share of a grading);
- the cnn's two accuracy cases with the reference ``train_cnn`` (what the grader trains per student);
- the capstone's default training (the notebook's, reaching the held-out accuracy the tests require).
"""
from __future__ import annotations

import os
import platform
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from autograder.sandbox import Limits, Sandbox  # noqa: E402
from autograder.sandbox.layers import bwrap_path  # noqa: E402
from autograder.student.convkit_check import call_in_namespace, run_case  # noqa: E402
from autograder.suites import ASSIGNMENTS, cases_for, reference_function  # noqa: E402

# Budgets: what the kit promised when each was set (README, issues 4 and 6).
SANDBOX_START_BUDGET_S = 0.3
SANDBOX_CALL_BUDGET_S = 0.005
SANDBOX_MB_BUDGET_S = 0.05
REFERENCE_CASES_BUDGET_S = 1.0  # per assignment, every array case
ACCURACY_CASES_BUDGET_S = 20.0  # the cnn's two accuracy cases with the reference
TRAINING_BUDGET_S = 120.0  # the capstone's default training in the notebook, on 2 cores
REPEATS = 5


def _row(what: str, budget: float, measured: float) -> None:
    print(f"{what:<58} {measured:9.4f} s  budget {budget:8.3f} s  ratio {budget / measured:7.2f}")


def _sandbox(mode: str) -> None:
    limits = Limits(use_bwrap=(mode == "bwrap"), max_array_bytes=2 << 20)
    src = "import numpy as np\ndef f(a):\n    return a + 1\n"
    small, big = np.ones((4, 4)), np.ones((1 << 20) // 8 - 64)
    starts, calls, bigs = [], [], []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        with Sandbox(src, limits=limits) as sb:
            sb.call("f", args=[small])
            starts.append(time.perf_counter() - t0)
            t1 = time.perf_counter()
            for _ in range(50):
                sb.call("f", args=[small])
            calls.append((time.perf_counter() - t1) / 50)
            t2 = time.perf_counter()
            sb.call("f", args=[big])
            bigs.append(time.perf_counter() - t2)
    _row(f"sandbox ({mode}): start to first result", SANDBOX_START_BUDGET_S, statistics.median(starts))
    _row(f"sandbox ({mode}): one call, 4x4 array", SANDBOX_CALL_BUDGET_S, statistics.median(calls))
    _row(f"sandbox ({mode}): one call, 1 MB array", SANDBOX_MB_BUDGET_S, statistics.median(bigs))


def _reference_call(name, args, kwargs):
    return reference_function(name)(*args, **kwargs)


def _reference_cases() -> None:
    for assignment in ASSIGNMENTS:
        cases = [c for c in cases_for(assignment) if c.kind in ("array", "exact")]
        if not cases:
            continue
        seconds = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            for c in cases:
                run_case(c, _reference_call)
            seconds.append(time.perf_counter() - start)
        _row(f"reference on {len(cases)} array cases of {assignment}", REFERENCE_CASES_BUDGET_S,
             statistics.median(seconds))


def _capstone() -> None:
    import reference.cnn as cnn
    from reference.digits import load_digits_split

    namespace = {"train_cnn": cnn.train_cnn, "predict": cnn.predict}
    start = time.perf_counter()
    for c in cases_for("cnn"):
        if c.kind == "accuracy":
            run_case(c, lambda n, a, k: call_in_namespace(namespace, n, a, k))
    _row("cnn: the two accuracy cases, reference train_cnn", ACCURACY_CASES_BUDGET_S, time.perf_counter() - start)
    x_train, y_train, x_test, y_test = load_digits_split()
    start = time.perf_counter()
    params, _ = cnn.train_cnn(x_train, y_train, seed=0)
    seconds = time.perf_counter() - start
    acc = float(np.mean(cnn.predict(params, x_test) == y_test))
    _row(f"capstone: default training (held-out accuracy {acc:.4f})", TRAINING_BUDGET_S, seconds)


def main() -> None:
    print(f"timings on {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}")
    for mode in (("bwrap", "plain") if bwrap_path() else ("plain",)):
        _sandbox(mode)
    _reference_cases()
    _capstone()


if __name__ == "__main__":
    main()
