"""``autograder grade``: a batch of submissions, graded in parallel, resumable, and recorded in the gradebook.

Each submission is graded in a pool process (:func:`autograder.grading.grade_submission`); the parent writes each
result file atomically the moment it arrives and records it in nbgrader's gradebook, so Ctrl-C or a crash keeps
every finished result. A re-run skips submissions whose content and grader are unchanged (``--force`` regrades).
"""
from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from autograder.course import as_course
from autograder.gradebook import Recorder
from autograder.locks import LOCKED_MESSAGE, CourseLocked, course_lock
from autograder.results import Result, is_current, result_path, write_result
from autograder.submissions import TIMESTAMP_INVALID, TIMESTAMP_REFUSED, Submission, discover

__all__ = ["BatchSummary", "grade_batch", "warm_forkserver", "SUMMARY_LINE", "CourseLocked", "LOCKED_MESSAGE",
           "course_lock"]

SUMMARY_LINE = ("{assignment}: {graded} graded, {unchanged} unchanged, {load_failed} failed to load, "
                "{timed_out} with timeouts, {errors} grader errors; mean score {mean:.1f} / {max_score:g}")


_WORKER_CASES: dict = {}
# What every pool process imports (2.5 s: nbformat's JSON-schema checks load a grammar): imported once, by the
# forkserver the pool processes are forked from, while the batch's leader opens the course and reads the gradebook.
_POOL_PRELOAD = ("autograder.grading", "autograder.suites")


@dataclass
class BatchSummary:
    assignment: str
    graded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    load_failed: list[str] = field(default_factory=list)
    timed_out: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    max_score: float = 0.0
    layers: set[str] = field(default_factory=set)
    missing_layers: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)  # files found that are no submission, and why (discover)

    def line(self) -> str:
        mean = sum(self.scores.values()) / len(self.scores) if self.scores else 0.0
        return SUMMARY_LINE.format(assignment=self.assignment, graded=len(self.graded), unchanged=len(self.unchanged),
                                   load_failed=len(self.load_failed), timed_out=len(self.timed_out),
                                   errors=len(self.errors), mean=mean, max_score=self.max_score)


def _cases(assignment: str):
    # Computed once per pool process: the expected values come from the live reference.
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


def _grade_one(assignment: str, submission: Submission, limits=None) -> Result:
    from autograder.grading import grade_submission

    return grade_submission(assignment, submission, _cases(assignment), functools.partial(other_functions, assignment),
                            limits)


def _init_pool_process(assignment: str, leader: int) -> None:
    # Dies with the batch's leader (kill -9 included: see sandbox/lifeline.py), then computes the cases once.
    from autograder.sandbox.lifeline import watch_leader

    watch_leader(leader)
    _cases(assignment)


def grade_batch(assignment: str, paths: list[Path], course, *, workers: int | None = None,
                force: bool = False, db_url: str | None = None, course_id: str | None = None,
                progress: bool = True, limits=None, wait: bool = False) -> BatchSummary:
    """Grade every submission of ``assignment`` found under ``paths`` (default: nbgrader's ``submitted/``).

    ``course``: a path or a :class:`~autograder.course.Course`; ``db_url`` and ``course_id`` override what its
    ``nbgrader_config.py`` records. ``limits`` (an ``autograder.sandbox.Limits``) overrides the assignment's.
    Raises :class:`CourseLocked` when another grader holds the course (``wait``: queue behind it instead)."""
    from autograder.suites import assignment as registered

    registered(assignment)  # ValueError naming the registered ones for any other name
    warm_forkserver()
    course = as_course(course, db_url, course_id)
    with course_lock(course, assignment, wait=wait):
        return _grade_locked(assignment, paths, course, workers=workers, force=force, progress=progress,
                             limits=limits)


def warm_forkserver() -> None:
    """Start the pool's forkserver now, importing what a pool process needs, so that it does so while this process
    opens the course (nbgrader's import, 2.7 s) rather than after: every pool process is then forked with it
    imported. Called first by :func:`grade_batch` and by the CLI (which opens the course before the batch). A
    forkserver already running (an earlier batch in this process) is reused as it is."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(_POOL_PRELOAD))
    from multiprocessing import forkserver

    forkserver.ensure_running()


def _grade_locked(assignment, paths, course, *, workers, force, progress, limits) -> BatchSummary:
    summary = BatchSummary(assignment)
    submissions = discover(assignment, list(paths), course, course.results / ".unzipped", summary.notes)
    todo = []
    for sub in submissions:
        if not force and is_current(result_path(course, assignment, sub.student), sub.sha256()):
            summary.unchanged.append(sub.student)
        else:
            todo.append(sub)
    if not todo:
        return summary
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    bar = tqdm(total=len(todo), desc=f"grading {assignment}", unit="nb", disable=not progress, dynamic_ncols=True)
    ctx = multiprocessing.get_context("forkserver")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_pool_process,
                               initargs=(assignment, os.getpid()))
    pending = {}
    recorder = Recorder(course.db_url, course.course_id)  # one gradebook connection for the batch
    try:
        pending = {pool.submit(_grade_one, assignment, sub, limits): sub for sub in todo}
        # Opened while the pool processes start; one that fails here fails again, and is reported, per submission.
        with contextlib.suppress(Exception):
            recorder.open()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                sub = pending.pop(future)
                try:
                    result = future.result()
                except Exception as exc:  # a grader bug or a dead pool process: recorded, the batch goes on
                    summary.errors[sub.student] = f"{type(exc).__name__}: {exc}"
                else:
                    _store(course, recorder, assignment, sub, result, summary)
                bar.update(1)
                bar.set_postfix_str(sub.student, refresh=False)
    except KeyboardInterrupt:
        summary.interrupted = True
        for future in pending:
            future.cancel()
        raise
    finally:
        bar.close()
        recorder.close()
        pool.shutdown(wait=not summary.interrupted, cancel_futures=True)
    return summary


def _store(course, recorder: Recorder, assignment, sub, result: Result, summary) -> None:
    summary.graded.append(sub.student)
    summary.scores[sub.student] = result.score
    summary.max_score = result.max_score
    summary.layers.update(result.sandbox_layers)
    summary.missing_layers.update(result.sandbox_missing)
    if not result.load.ok:
        summary.load_failed.append(sub.student)
    if result.timed_out:
        summary.timed_out.append(sub.student)
    timestamp = sub.timestamp
    if timestamp is not None:  # written on the student's side of the exchange: nbgrader must read it, or it is dropped
        from nbgrader.utils import parse_utc

        try:
            parse_utc(timestamp)
        except Exception:  # dateutil raises several types for a string it cannot read
            timestamp = None
            result = replace(result, timestamp=None,
                             timestamp_refused=TIMESTAMP_REFUSED.format(reason=TIMESTAMP_INVALID))
    try:
        # Every assignment has one notebook, named after it (assignments/source/<name>/<name>.ipynb).
        recorder.record(assignment, sub.student, assignment, result.cell_scores, timestamp)
        result = replace(result, recorded=True)
    except Exception as exc:  # the result is kept, marked unrecorded: the next run grades and records it again
        summary.errors[sub.student] = f"gradebook: {type(exc).__name__}: {str(exc)[:500]}"
        result = replace(result, recorded=False)
    # Written last: a re-run skips a submission whose result file is current (results.is_current: recorded in the
    # gradebook too), so a Ctrl-C between the two leaves no current file without its gradebook row.
    write_result(result_path(course, assignment, sub.student), result)
