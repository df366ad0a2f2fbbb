"""Where a batch's submissions are graded: in this process, in a local process pool, or on a Dask cluster.

All three run one function, :func:`grade_task`, on the same wire form: the submission as plain strings and its
notebook's bytes (:meth:`~autograder.submissions.Submission.sent`), the limits as numbers, and the result back as
JSON text. The batch's leader (autograder.grade) reads the files, writes the results and the gradebook; wherever a
submission is graded, nothing but that JSON comes back.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import multiprocessing
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor

__all__ = ["grade_task", "engine", "uses_pool", "warm_forkserver", "other_functions", "worker_label",
           "IN_THIS_PROCESS"]

IN_THIS_PROCESS = 0  # workers=0: grade in the calling process, one at a time (a debugger, a tiny batch)

_WORKER_CASES: dict = {}
# What every pool process imports (2.5 s: nbformat's JSON-schema checks load a grammar): imported once, by the
# forkserver the pool processes are forked from, while the batch's leader opens the course and reads the gradebook.
_POOL_PRELOAD = ("autograder.grading", "autograder.suites")
# The graded suite is a pytest session, whose state is per process: the threads of a Dask worker started with
# more than one take turns.
_ONE_AT_A_TIME = threading.Lock()


def _cases(assignment: str):
    # Computed once per grading process: the expected values come from the live reference.
    if assignment not in _WORKER_CASES:
        from autograder.suites import cases_for

        _WORKER_CASES[assignment] = cases_for(assignment)
    return _WORKER_CASES[assignment]


@functools.cache
def other_functions(assignment: str) -> dict[str, set[str]]:
    """The other assignments' graded functions, to recognise a notebook submitted for the wrong assignment
    (computed only when a notebook has none of this assignment's cells: the cnn's cases take a second)."""
    from autograder.suites import assignments, cases_for

    return {a.name: {c.function for c in cases_for(a.name)} for a in assignments() if a.name != assignment}


def grade_task(assignment: str, sent: dict, limits: dict | None = None) -> str:
    """Grade one submission (``sent``: :meth:`Submission.sent`) and return its result as JSON text
    (:meth:`Result.to_json`), naming the process that graded it. Never raises for anything the submission does."""
    from autograder.grading import grade_submission
    from autograder.sandbox import Limits
    from autograder.submissions import Sent

    with _ONE_AT_A_TIME:
        result = grade_submission(assignment, Sent.from_wire(sent), _cases(assignment),
                                  functools.partial(other_functions, assignment), Limits(**limits) if limits else None)
    return json.dumps(dataclasses.replace(result, worker=worker_label()).to_json())


def worker_label(worker=None) -> str:
    """Who is grading here: the host and process, and the Dask worker (``worker``, else the one running this task)."""
    label = f"{socket.gethostname()} pid {os.getpid()}"
    if worker is None and "distributed" in sys.modules:  # never imported by a pool process
        from distributed import get_worker

        with contextlib.suppress(ValueError):  # not inside a Dask task
            worker = get_worker()
    return label if worker is None else f"{label}, dask worker {worker.name} {worker.address}"


class _InThisProcess(Executor):
    """The serial engine: each task runs when it is submitted, in the caller."""

    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # what a pool would hand back as the future's exception
            future.set_exception(exc)
        return future


def uses_pool(workers: int | None, scheduler: str | None) -> bool:
    """Does a batch with these options grade in the local process pool (and so want :func:`warm_forkserver`)?"""
    return scheduler is None and workers != IN_THIS_PROCESS


def warm_forkserver() -> None:
    """Start the pool's forkserver now, importing what a pool process needs, so that it does so while this process
    opens the course (nbgrader's import, 2.7 s) rather than after: every pool process is then forked with it
    imported. Called first by grade_batch and by the CLI (which opens the course before the batch). A
    forkserver already running (an earlier batch in this process) is reused as it is."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(_POOL_PRELOAD))
    from multiprocessing import forkserver

    forkserver.ensure_running()


def _init_pool_process(assignment: str, leader: int) -> None:
    # Dies with the batch's leader (kill -9 included: see sandbox/lifeline.py), then computes the cases once.
    from autograder.sandbox.lifeline import watch_leader

    watch_leader(leader)
    _cases(assignment)


@contextlib.contextmanager
def engine(assignment: str, *, workers: int | None, todo: int, scheduler: str | None = None, security=None,
           warnings: list[str], probes: dict[str, dict]) -> Iterator[tuple[Executor, Callable[[], int]]]:
    """``(executor, capacity)`` for a batch of ``todo`` submissions: a Dask cluster when ``scheduler`` is given
    (autograder.cluster), this process when ``workers`` is 0, else a pool of ``workers`` processes (default: one
    per core). ``capacity()``: how many submissions it grades at once."""
    if scheduler is not None:
        from autograder.cluster import dask_executor

        with dask_executor(scheduler, assignment, workers=workers, security=security, warnings=warnings,
                           probes=probes) as found:
            yield found
        return
    if not uses_pool(workers, scheduler):
        yield _InThisProcess(), lambda: 1
        return
    size = max(1, min(workers or os.cpu_count() or 1, todo))
    pool = ProcessPoolExecutor(max_workers=size, mp_context=multiprocessing.get_context("forkserver"),
                               initializer=_init_pool_process, initargs=(assignment, os.getpid()))
    interrupted = False
    try:
        yield pool, lambda: size
    except BaseException:
        interrupted = True
        raise
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=True)
