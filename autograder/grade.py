"""``autograder grade``: a batch of submissions, graded in parallel, resumable, and recorded in the gradebook.

Each submission is graded by :func:`autograder.engines.grade_task`: in a local process pool (the default), in this
process (``workers=0``), or as a task on a Dask cluster (``scheduler``: autograder.cluster). This process, the
batch's leader, is the only one that reads the submitted files and the only writer of results: it writes each
result file atomically the moment it arrives and records it in nbgrader's gradebook, so Ctrl-C, a crash or kill -9
keeps every finished result. A re-run skips submissions whose content and grader are unchanged (``--force``
regrades).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from autograder.course import as_course
from autograder.gradebook import Recorder, scrub
from autograder.engines import engine, grade_task, uses_pool, warm_forkserver
from autograder.locks import LOCKED_MESSAGE, CourseLocked, course_lock
from autograder.results import Result, grader_fingerprint, is_current, remove_partials, result_path, write_result
from autograder.submissions import TIMESTAMP_INVALID, TIMESTAMP_REFUSED, discover

__all__ = ["BatchSummary", "grade_batch", "warm_forkserver", "SUMMARY_LINE", "CourseLocked", "LOCKED_MESSAGE",
           "course_lock", "OtherGrader", "OTHER_GRADER"]

OTHER_GRADER = ("graded by another version of the grader on {worker} ({theirs}; this one: {ours}): not recorded; "
                "install the same convkit on every worker")
SUMMARY_LINE = ("{assignment}: {graded} graded, {unchanged} unchanged, {load_failed} failed to load, "
                "{timed_out} with timeouts, {errors} grader errors; mean score {mean:.1f} / {max_score:g}")


class OtherGrader(RuntimeError):
    """A result graded by another version of the kit: never recorded (OTHER_GRADER)."""


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
    warnings: list[str] = field(default_factory=list)  # what to fix in the cluster (autograder.cluster)
    workers: dict[str, dict] = field(default_factory=dict)  # Dask worker -> what its probe found (layers, ...)

    def line(self) -> str:
        mean = sum(self.scores.values()) / len(self.scores) if self.scores else 0.0
        return SUMMARY_LINE.format(assignment=self.assignment, graded=len(self.graded), unchanged=len(self.unchanged),
                                   load_failed=len(self.load_failed), timed_out=len(self.timed_out),
                                   errors=len(self.errors), mean=mean, max_score=self.max_score)


def grade_batch(assignment: str, paths: list[Path], course, *, workers: int | None = None,
                force: bool = False, db_url: str | None = None, course_id: str | None = None,
                progress: bool = True, limits=None, wait: bool = False, scheduler: str | None = None,
                security=None) -> BatchSummary:
    """Grade every submission of ``assignment`` found under ``paths`` (default: nbgrader's ``submitted/``).

    ``course``: a path or a :class:`~autograder.course.Course`; ``db_url`` and ``course_id`` override what its
    ``nbgrader_config.py`` records. ``limits`` (an ``autograder.sandbox.Limits``) overrides the assignment's.
    ``workers``: grading processes (default: one per core; 0: this process). ``scheduler``: a Dask scheduler's
    address, or ``"local"`` for a LocalCluster of ``workers`` processes; ``security``: its ``distributed.Security``
    (autograder.cluster.security). Raises :class:`CourseLocked` when another grader holds the course (``wait``:
    queue behind it instead), :class:`~autograder.cluster.ClusterError` when the cluster cannot grade."""
    from autograder.suites import assignment as registered

    registered(assignment)  # ValueError naming the registered ones for any other name
    if uses_pool(workers, scheduler):
        warm_forkserver()
    course = as_course(course, db_url, course_id)
    with course_lock(course, assignment, wait=wait):
        return _grade_locked(assignment, paths, course, workers=workers, force=force, progress=progress,
                             limits=limits, scheduler=scheduler, security=security)


def _grade_locked(assignment, paths, course, *, workers, force, progress, limits, scheduler, security):
    summary = BatchSummary(assignment)
    remove_partials(course.results_dir(assignment))  # left by a grader killed mid-write; we hold the lock
    submissions = discover(assignment, list(paths), course, course.results / ".unzipped", summary.notes)
    todo = []
    for sub in submissions:
        if not force and is_current(result_path(course, assignment, sub.student), sub.sha256()):
            summary.unchanged.append(sub.student)
        else:
            todo.append(sub)
    if not todo:
        return summary
    wire_limits = dataclasses.asdict(limits) if limits is not None else None
    queue = iter(todo)
    pending: dict = {}
    recorder = Recorder(course.db_url, course.course_id)  # one gradebook connection for the batch
    bar = None
    try:
        with engine(assignment, workers=workers, todo=len(todo), scheduler=scheduler, security=security,
                    warnings=summary.warnings, probes=summary.workers) as (executor, capacity):
            # Shown from now: connecting to a cluster may take a while, or fail.
            bar = tqdm(total=len(todo), desc=f"grading {assignment}", unit="nb", disable=not progress,
                       dynamic_ncols=True)

            def refill() -> None:
                # A few submissions ahead of the graders, not all: each one in flight holds its notebook's bytes.
                while len(pending) < 2 * capacity() and (sub := next(queue, None)) is not None:
                    pending[executor.submit(grade_task, assignment, sub.sent(), wire_limits)] = sub

            refill()
            # Opened while the graders start; one that fails here fails again, and is reported, per submission.
            with contextlib.suppress(Exception):
                recorder.open()
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    sub = pending.pop(future)
                    try:
                        result = _received(future.result(), sub.student, assignment)
                    except Exception as exc:  # a grader bug, a dead grading process, another kit: the batch goes on
                        summary.errors[sub.student] = f"{type(exc).__name__}: {exc}"
                    else:
                        _store(course, recorder, assignment, sub, result, summary)
                    bar.update(1)
                    bar.set_postfix_str(sub.student, refresh=False)
                refill()
    except KeyboardInterrupt:
        summary.interrupted = True
        for future in pending:
            future.cancel()
        raise
    finally:
        if bar is not None:
            bar.close()
        recorder.close()
    return summary


def _received(text: str, student: str, assignment: str) -> Result:
    """The result a grading process sent (JSON text), read as any result file is; refused when it was graded by
    another version of the grader (a cluster worker with another kit installed)."""
    # The student is the one this process sent (from_json bounds a name for display; the id must stay whole).
    result = replace(Result.from_json(json.loads(text), student, assignment), student=student)
    if result.grader != grader_fingerprint():
        raise OtherGrader(OTHER_GRADER.format(worker=result.worker or "unknown", theirs=result.grader,
                                              ours=grader_fingerprint()))
    return result


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
        summary.errors[sub.student] = f"gradebook: {type(exc).__name__}: {scrub(str(exc), course.db_url)[:500]}"
        result = replace(result, recorded=False)
    # Written last: a re-run skips a submission whose result file is current (results.is_current: recorded in the
    # gradebook too), so a Ctrl-C between the two leaves no current file without its gradebook row.
    write_result(result_path(course, assignment, sub.student), result)
