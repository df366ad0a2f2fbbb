"""Two graders on one course, and a gradebook that refuses a write: is anything recorded twice, or lost?

* Two real ``autograder grade`` processes at once: the second stops at once naming the first (its pid), or with
  ``--wait`` queues behind it and then finds every submission current; each student has one gradebook submission.
* A result whose gradebook write failed is kept but not current: the next run grades and records it.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.grade import LOCKED_MESSAGE, grade_batch
from autograder.results import read_result, result_path
from tests.support.submissions_factory import (ASSIGNMENT, BATCH_LIMITS, HONEST, expected_score, fresh_course,
                                              gradebook_scores, write_submission)

pytestmark = pytest.mark.slow

STUDENTS = 6


def _cli(course, *extra):
    # The console script an instructor runs, from this interpreter's environment.
    cmd = [str(Path(sys.executable).parent / "autograder"), "grade", ASSIGNMENT, "--course", str(course),
           "--workers", "1", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())


def test_a_second_grader_names_the_first_or_waits_for_it(tmp_path_factory):
    course = fresh_course(tmp_path_factory, "two-graders")
    for i in range(STUDENTS):
        write_submission(course, f"student_{i}", HONEST[i % len(HONEST)].build(course))
    lock = course / "results" / ".grading.lock"
    first = _cli(course)
    deadline = time.monotonic() + 120
    while not (lock.is_file() and lock.read_text()) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.poll() is None, first.communicate()
    # The first grader is paused while it holds the course, so it still holds it when the second has started
    # (seconds of imports on a loaded machine) however fast it grades; it resumes once the second has answered.
    os.kill(first.pid, signal.SIGSTOP)
    try:
        second = _cli(course)
        out, err = second.communicate(timeout=120)
        queued = _cli(course, "--wait")
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert second.returncode != 0, (out, err)
    assert LOCKED_MESSAGE.split("(")[0] in err and f"pid {first.pid} on " in err
    first_out, first_err = first.communicate(timeout=600)
    assert first.returncode == 0, first_err
    assert f"{STUDENTS} graded, 0 unchanged" in first_out
    queued_out, queued_err = queued.communicate(timeout=600)
    assert queued.returncode == 0, queued_err
    assert f"0 graded, {STUDENTS} unchanged" in queued_out
    with sqlite3.connect(course / "gradebook.db") as db:
        rows = db.execute("SELECT student_id, COUNT(*) FROM submitted_assignment GROUP BY student_id").fetchall()
    assert sorted(rows) == sorted((f"student_{i}", 1) for i in range(STUDENTS))
    assert lock.read_text() == ""  # released: the holder's line is cleared


def test_a_result_whose_gradebook_write_failed_is_graded_again(tmp_path_factory):
    course = fresh_course(tmp_path_factory, "gradebook-fails")
    write_submission(course, "alice", HONEST[0].build(course))
    # A gradebook without the assignment (``autograder build`` never ran against it): every write fails.
    empty = f"sqlite:///{course / 'empty-gradebook.db'}"
    first = grade_batch(ASSIGNMENT, [], course, workers=1, progress=False, limits=BATCH_LIMITS, db_url=empty)
    assert first.graded == ["alice"] and first.errors["alice"].startswith("gradebook: GradebookError")
    kept = read_result(result_path(course, ASSIGNMENT, "alice"))
    assert kept["score"] == expected_score(HONEST[0].broken) and kept["extra_data"]["recorded"] is False
    second = grade_batch(ASSIGNMENT, [], course, workers=1, progress=False, limits=BATCH_LIMITS)
    assert second.graded == ["alice"] and second.unchanged == [] and second.errors == {}
    assert read_result(result_path(course, ASSIGNMENT, "alice"))["extra_data"]["recorded"] is True
    assert sum(gradebook_scores(course)["alice"].values()) == expected_score(HONEST[0].broken)
    third = grade_batch(ASSIGNMENT, [], course, workers=1, progress=False, limits=BATCH_LIMITS)
    assert third.graded == [] and third.unchanged == ["alice"]


def test_a_timestamp_of_the_right_shape_that_nbgrader_cannot_read_is_dropped_not_fatal(tmp_path_factory):
    """A timestamp.txt that looks like one but is no date (month 13): recorded without it, the refusal named."""
    from autograder.submissions import TIMESTAMP_INVALID, TIMESTAMP_REFUSED

    course = fresh_course(tmp_path_factory, "bad-timestamp")
    path = write_submission(course, "carol", HONEST[0].build(course))
    (path.parent / "timestamp.txt").write_text("2026-13-45 25:61:00 UTC\n")
    summary = grade_batch(ASSIGNMENT, [], course, workers=1, progress=False, limits=BATCH_LIMITS)
    assert summary.graded == ["carol"] and summary.errors == {}
    extra = read_result(result_path(course, ASSIGNMENT, "carol"))["extra_data"]
    assert (extra["recorded"], extra["timestamp"]) == (True, None)
    assert extra["timestamp_refused"] == TIMESTAMP_REFUSED.format(reason=TIMESTAMP_INVALID)
    assert sum(gradebook_scores(course)["carol"].values()) == expected_score(HONEST[0].broken)
