"""``autograder grade``: a batch of submissions, graded in parallel, resumable, and recorded in the gradebook.

Each submission is graded in a pool process (:func:`autograder.grading.grade_submission`); the parent writes each
result file atomically the moment it arrives and records it in nbgrader's gradebook, so Ctrl-C or a crash keeps
every finished result. A re-run skips submissions whose content and grader are unchanged (``--force`` regrades).
"""
from __future__ import annotations

import functools
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from autograder.gradebook import default_db_url, record
from autograder.results import is_current, result_path, write_result
from autograder.submissions import Submission, discover

__all__ = ["BatchSummary", "grade_batch", "SUMMARY_LINE"]

SUMMARY_LINE = ("{assignment}: {graded} graded, {unchanged} unchanged, {load_failed} failed to load, "
                "{timed_out} with timeouts, {errors} grader errors; mean score {mean:.1f} / {max_score:g}")

_WORKER_CASES: dict = {}


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


@functools.lru_cache(maxsize=None)
def other_functions(assignment: str) -> dict[str, set[str]]:
    """The other assignments' graded functions, to recognise a notebook submitted for the wrong assignment
    (computed only when a notebook has none of this assignment's cells: the cnn's cases take a second)."""
    from autograder.suites import ASSIGNMENTS, cases_for

    return {a: {c.function for c in cases_for(a)} for a in ASSIGNMENTS if a != assignment}


def _grade_one(assignment: str, submission: Submission, limits=None) -> dict:
    from autograder.grading import grade_submission

    return grade_submission(assignment, submission, _cases(assignment), functools.partial(other_functions, assignment),
                            limits)


def _init_pool_process(assignment: str, leader: int) -> None:
    # Dies with the batch's leader (kill -9 included: see sandbox/lifeline.py), then computes the cases once.
    from autograder.sandbox.lifeline import watch_leader

    watch_leader(leader)
    _cases(assignment)


def grade_batch(assignment: str, paths: list[Path], course: Path, *, workers: int | None = None,
                force: bool = False, db_url: str | None = None, course_id: str = "convkit",
                progress: bool = True, limits=None) -> BatchSummary:
    """Grade every submission of ``assignment`` found under ``paths`` (default: nbgrader's ``submitted/``).

    ``limits`` (an ``autograder.sandbox.Limits``) overrides the per-assignment sandbox limits of grading.py."""
    from autograder.suites import ASSIGNMENTS

    if assignment not in ASSIGNMENTS:
        raise ValueError(f"unknown assignment {assignment!r}; expected one of {', '.join(ASSIGNMENTS)}")
    course = Path(course)
    db_url = db_url or default_db_url(course)
    submissions = discover(assignment, list(paths), course, course / "results" / ".unzipped")
    summary = BatchSummary(assignment)
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
    try:
        pending = {pool.submit(_grade_one, assignment, sub, limits): sub for sub in todo}
        import nbgrader.api  # noqa: F401  (1.6 s: imported while the pool warms up, not after the first result)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                sub = pending.pop(future)
                try:
                    result = future.result()
                except Exception as exc:  # a grader bug or a dead pool process: recorded, the batch goes on
                    summary.errors[sub.student] = f"{type(exc).__name__}: {exc}"
                else:
                    _store(course, assignment, sub, result, summary, db_url, course_id)
                bar.update(1)
                bar.set_postfix_str(sub.student, refresh=False)
    except KeyboardInterrupt:
        summary.interrupted = True
        for future in pending:
            future.cancel()
        raise
    finally:
        bar.close()
        pool.shutdown(wait=not summary.interrupted, cancel_futures=True)
    return summary


def _store(course, assignment, sub, result, summary, db_url, course_id) -> None:
    extra = result["extra_data"]
    summary.graded.append(sub.student)
    summary.scores[sub.student] = result["score"]
    summary.max_score = result["max_score"]
    summary.layers.update(extra.get("sandbox_layers", []))
    summary.missing_layers.update(extra.get("sandbox_missing", {}))
    if not extra["load"].get("ok", True):
        summary.load_failed.append(sub.student)
    if extra.get("timed_out"):
        summary.timed_out.append(sub.student)
    try:
        # Every assignment has one notebook, named after it (assignments/source/<name>/<name>.ipynb).
        record(db_url, course_id, assignment, sub.student, assignment, extra["cell_scores"],
               sub.timestamp)
    except Exception as exc:  # the result file is kept; the gradebook can be refilled by a re-run with --force
        summary.errors[sub.student] = f"gradebook: {exc}"
    # Written last: a re-run skips a submission whose result file is current, so the file must not exist before
    # the gradebook holds its scores (a Ctrl-C between the two would leave the gradebook without them for good).
    write_result(result_path(course, assignment, sub.student), result)
