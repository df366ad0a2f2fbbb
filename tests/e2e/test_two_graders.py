"""Two graders on one course, and a gradebook that refuses a write: is anything recorded twice, or lost?

* Two real ``autograder grade`` processes at once: the second stops at once naming the first (its pid), or with
  ``--wait`` queues behind it and then finds every submission current; each student has one gradebook submission.
* The same on a real PostgreSQL gradebook, also from a copy of the course folder (a second TA's machine): the
  database's advisory lock stops or queues the second there, naming the first; one row per student in PostgreSQL.
* A result whose gradebook write failed is kept but not current: the next run grades and records it.
"""
from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.build import build_course
from autograder.grade import LOCKED_MESSAGE, grade_batch
from autograder.locks import DATABASE_HOLDER
from autograder.results import read_result, result_path
from tests.support import postgres as pg
from tests.support.submissions_factory import (ASSIGNMENT, BATCH_LIMITS, HONEST, expected_score, fresh_course,
                                              gradebook_scores, write_submission)

pytestmark = pytest.mark.slow
postgres_server, postgres_url = pg.postgres_server, pg.postgres_url  # the fixtures, for this module's tests

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


def _until(condition, process, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None and condition(), (what, process.poll())


def _backends(server, url, pid: int, where: str) -> int:
    """How many of ``pid``'s connections (named by locks.holder_line) match ``where``."""
    return server.query(url, "SELECT COUNT(*) FROM pg_stat_activity a LEFT JOIN pg_locks l ON l.pid = a.pid "
                        f"AND l.locktype = 'advisory' WHERE a.application_name LIKE %s AND {where}",
                        (f"pid {pid} on %",))[0][0]


def test_two_graders_on_one_postgresql_gradebook_from_one_folder_or_two(tmp_path_factory, postgres_server,
                                                                        postgres_url):
    """While one grader holds the course (paused, so it still holds it), a second from the same folder stops at the
    folder's lock, one from a copy of the folder at the database's, both naming the first; a third with --wait
    queues in the database, then grades its copy into the same rows: one submission per student, exact scores."""
    course = tmp_path_factory.mktemp("pg-two-graders") / "course"
    build_course(course, [ASSIGNMENT], db_url=postgres_url)
    expected = {}
    for i in range(STUDENTS):
        honest = HONEST[i % len(HONEST)]
        write_submission(course, f"student_{i}", honest.build(course))
        expected[f"student_{i}"] = expected_score(honest.broken)
    other = tmp_path_factory.mktemp("pg-other-machine") / "course"
    shutil.copytree(course, other)  # the second TA's copy: its own results/ and lock file, the same gradebook
    first = _cli(course)
    _until(lambda: _backends(postgres_server, postgres_url, first.pid, "l.granted") == 1, first,
           "the first grader takes the database lock")
    os.kill(first.pid, signal.SIGSTOP)
    try:
        same = _cli(course)
        same_out, same_err = same.communicate(timeout=120)
        elsewhere = _cli(other)
        elsewhere_out, elsewhere_err = elsewhere.communicate(timeout=120)
        queued = _cli(other, "--wait")
        _until(lambda: _backends(postgres_server, postgres_url, queued.pid, "a.wait_event_type = 'Lock'") == 1,
               queued, "the queued grader waits in the database")
    finally:
        os.kill(first.pid, signal.SIGCONT)
    holder = f"pid {first.pid} on "
    assert same.returncode != 0 and LOCKED_MESSAGE.split("(")[0] in same_err and holder in same_err, same_err
    assert elsewhere.returncode != 0 and holder in elsewhere_err, (elsewhere_out, elsewhere_err)
    assert DATABASE_HOLDER.split("{client}")[0].split("{name}")[1] in elsewhere_err
    first_out, first_err = first.communicate(timeout=600)
    assert first.returncode == 0 and f"{STUDENTS} graded, 0 unchanged" in first_out, first_err
    queued_out, queued_err = queued.communicate(timeout=600)
    assert queued.returncode == 0 and f"{STUDENTS} graded, 0 unchanged" in queued_out, queued_err
    rows = postgres_server.query(postgres_url, "SELECT student_id, COUNT(*) FROM submitted_assignment "
                                 "GROUP BY student_id")
    assert sorted(rows) == sorted((student, 1) for student in expected)
    from nbgrader.api import Gradebook

    with Gradebook(postgres_url, course_id="convkit") as gb:
        assert {s.student.id: s.score for s in gb.assignment_submissions(ASSIGNMENT)} == expected
    assert (course / "results" / ".grading.lock").read_text() == ""
    assert _backends(postgres_server, postgres_url, first.pid, "TRUE") == 0  # its connection closed with it
