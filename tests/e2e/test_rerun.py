"""Does grading lose nothing and redo nothing (ARCHITECTURE.md invariant 6)?

A re-run regrades only submissions whose content changed (or all with ``force``); an interrupted batch keeps every
finished result, complete, and a re-run grades only the rest. Real nbgrader course, real batches.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from autograder.grade import grade_batch
from autograder.results import read_result, result_path
from tests.support.submissions_factory import (ASSIGNMENT, BATCH_LIMITS, HONEST, REPO, expected_score, fresh_course,
                                              gradebook_scores, guarded_body, honest_notebook, replace_body,
                                              with_stubs, write_submission)

pytestmark = pytest.mark.slow

WORKERS = 2
SLOW_CALL_S = 1.0              # each call of the slow submission's relu sleeps this long (5 cases)
SLOW_LIMITS_TIMEOUT_S = 5.0    # its call timeout: the sleep must not time out
FIRST_RESULT_WAIT_S = 120      # generous: the interrupted batch starts a pool and builds the cases first
EXIT_WAIT_S = 60

# SIGINT is reset to Python's default: a suite started in the background by a non-interactive shell (`make test &`)
# runs with SIGINT ignored, and a child inherits that, where a terminal's grade command would get Ctrl-C.
_INTERRUPTED_BATCH = """
import signal
import sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from pathlib import Path
from autograder.grade import grade_batch
from autograder.sandbox import Limits

if __name__ == "__main__":
    grade_batch("layers", [], Path(sys.argv[1]), workers=1, progress=False,
                limits=Limits(call_timeout_s=float(sys.argv[2])))
"""


def _files(course, students):
    return {s: (result_path(course, ASSIGNMENT, s).read_bytes(), result_path(course, ASSIGNMENT, s).stat().st_mtime_ns)
            for s in students}


def _grade(course, **kw):
    return grade_batch(ASSIGNMENT, [], course, workers=WORKERS, progress=False, limits=BATCH_LIMITS, **kw)


def test_a_rerun_regrades_only_changed_submissions_and_force_regrades_all(tmp_path_factory):
    course = fresh_course(tmp_path_factory, "rerun")
    names = [h.student for h in HONEST]
    for h in HONEST:
        write_submission(course, h.student, h.build(course))
    first = _grade(course)
    assert sorted(first.graded) == sorted(names) and first.errors == {}
    files = _files(course, names)

    again = _grade(course)
    assert again.graded == [] and sorted(again.unchanged) == sorted(names)
    assert _files(course, names) == files  # same bytes, same mtime: not even rewritten

    # honest_partial_a implements relu now (softmax is still a stub): only that notebook changed.
    changed = "honest_partial_a"
    write_submission(course, changed, with_stubs(honest_notebook(course), course, ["softmax"]))
    third = _grade(course)
    assert third.graded == [changed] and sorted(third.unchanged) == sorted(set(names) - {changed})
    assert third.scores[changed] == expected_score({"softmax": "stub"})
    after = _files(course, names)
    assert all(after[s] == files[s] for s in names if s != changed) and after[changed] != files[changed]
    assert sum(gradebook_scores(course)[changed].values()) == expected_score({"softmax": "stub"})

    forced = _grade(course, force=True)
    assert sorted(forced.graded) == sorted(names) and forced.unchanged == []
    assert all(_files(course, [s])[s][1] > after[s][1] for s in names)


def test_an_interrupted_batch_keeps_finished_results_and_a_rerun_grades_the_rest(tmp_path_factory):
    """Ctrl-C (SIGINT) after the first result: is that result complete, and does a re-run grade only the others?"""
    course = fresh_course(tmp_path_factory, "interrupted")
    slow = replace_body(honest_notebook(course), "relu",
                        guarded_body("relu", f"import time\ntime.sleep({SLOW_CALL_S})"))
    # One worker grades in folder order: a_quick finishes, b_slow is in progress when the signal comes.
    write_submission(course, "a_quick", HONEST[0].build(course))
    write_submission(course, "b_slow", slow)
    write_submission(course, "c_quick", HONEST[1].build(course))
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-c", _INTERRUPTED_BATCH, str(course), str(SLOW_LIMITS_TIMEOUT_S)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = result_path(course, ASSIGNMENT, "a_quick")
    try:
        deadline = time.monotonic() + FIRST_RESULT_WAIT_S
        while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.exists(), f"no result appeared; the batch said:\n{proc.stdout.read() if proc.poll() else ''}"
        proc.send_signal(signal.SIGINT)  # this one process, as a terminal's Ctrl-C reaches the grade command
        output, _ = proc.communicate(timeout=EXIT_WAIT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0 and "KeyboardInterrupt" in output, output[-2000:]
    kept = read_result(first)
    assert kept is not None and kept["score"] == expected_score(HONEST[0].broken)
    assert not result_path(course, ASSIGNMENT, "b_slow").exists()
    assert not result_path(course, ASSIGNMENT, "c_quick").exists()
    assert not list(result_path(course, ASSIGNMENT, "x").parent.glob("*.tmp"))
    assert set(gradebook_scores(course)) == {"a_quick"}, output[-3000:]

    rerun = grade_batch(ASSIGNMENT, [], course, workers=WORKERS, progress=False,
                        limits=BATCH_LIMITS.__class__(call_timeout_s=SLOW_LIMITS_TIMEOUT_S))
    assert rerun.unchanged == ["a_quick"] and sorted(rerun.graded) == ["b_slow", "c_quick"]
    assert rerun.scores == {"b_slow": expected_score({}), "c_quick": expected_score(HONEST[1].broken)}
    assert read_result(first) == kept
