"""Does a hostile submission, graded in a real batch beside honest ones, earn exactly what its honest part earns,
and leave the batch, the other students' results, the gradebook and the course untouched?

One nbgrader course (``layers``), graded twice with real ``grade_batch`` calls (see submissions_factory): first the
honest students alone (the baseline), then a batch of their twins (the same notebooks under other names), every
hostile submission and the named mistakes together, with 2 workers; then an LMS zip of two notebooks. Expected
scores come from the case table: the total minus what the attacked functions lose.
"""
from __future__ import annotations

import re

import pytest

from autograder.grading import LOAD_FAILED, WRONG_ASSIGNMENT
from autograder.results import result_path
from autograder.suites import cases_for
from tests.support.submissions_factory import (ASSIGNMENT, HONEST, HOSTILE, MISTAKES, TWIN_PREFIX, expected_score,
                                              gradebook_scores, layers_batch, sqlite_tables)

pytestmark = pytest.mark.slow

# The sandbox keeps the first Limits.max_output_bytes (1 MiB) of output; a result file stays far below that.
MAX_RESULT_BYTES = 1 << 20
BY_NAME = {h.student: h for h in HOSTILE}
ZIP_STUDENTS = ("zip_full", "zip_partial")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return layers_batch(tmp_path_factory)


def _tests_of(result, function):
    return [t for t in result["tests"] if t["extra_data"]["function"] == function]


def _case(function, case_id):
    return next(c for c in cases_for(ASSIGNMENT) if c.function == function and c.case_id == case_id)


def test_the_batch_completes_and_grades_every_submission(run):
    """Did every submission get a result, with no grader error, and were the baseline students skipped?"""
    s = run.summary
    expected = {TWIN_PREFIX + h.student for h in HONEST} | set(BY_NAME) | {m.student for m in MISTAKES}
    assert s.errors == {} and not s.interrupted
    assert set(s.graded) == expected and len(s.graded) == len(expected)
    assert set(s.unchanged) == {h.student for h in HONEST}
    assert set(s.load_failed) == {"malformed_json", "truncated", "wrong_assignment"}
    # The memory bomb may also run out of time while it fills memory: it loses the same points either way.
    assert {"endless_loop", "sleeper"} <= set(s.timed_out) <= {"endless_loop", "sleeper", "memory_bomb"}
    assert all(run.results[st] is not None for st in expected)


def test_there_are_at_least_twenty_hostile_submissions():
    assert len(HOSTILE) >= 20 and len(BY_NAME) == len(HOSTILE)


@pytest.mark.parametrize("hostile", HOSTILE, ids=[h.student for h in HOSTILE])
def test_a_hostile_submission_scores_exactly_its_honest_part(run, hostile):
    """Is the score the total minus the attacked functions' points (0 for an unreadable or wrong notebook)?"""
    result = run.results[hostile.student]
    expected = 0.0 if hostile.broken is None else expected_score(hostile.broken)
    # Points are whole or half numbers, so these sums are exact.
    assert result["score"] == expected, [t["name"] for t in result["tests"] if t["status"] != "passed"]
    assert run.summary.scores[hostile.student] == expected
    assert sum(result["extra_data"]["cell_scores"].values()) == expected
    if hostile.broken is None:
        return
    for t in result["tests"]:
        function = t["extra_data"]["function"]
        assert (t["status"] == "passed") == (function not in hostile.broken), t


def test_the_other_students_results_are_untouched(run):
    """Are the baseline result files byte-identical (same mtime), with no forged file beside them?"""
    for student, (raw, mtime) in run.baseline_files.items():
        path = result_path(run.course, ASSIGNMENT, student)
        assert path.read_bytes() == raw and path.stat().st_mtime_ns == mtime
    names = {p.stem for p in run.ctx.results.glob("*.json")}
    assert "mallory" not in names
    assert not list(run.ctx.results.glob("*.tmp"))


def test_twins_graded_beside_hostile_ones_score_like_the_baseline(run):
    """Do the honest notebooks graded inside the hostile batch get the same tests and scores as alone?"""
    keys = ("name", "score", "max_score", "status", "output", "visibility", "extra_data")
    for h in HONEST:
        alone, beside = run.results[h.student], run.results[TWIN_PREFIX + h.student]
        assert alone["score"] == beside["score"] == expected_score(h.broken)
        assert [{k: t[k] for k in keys} for t in alone["tests"]] == [{k: t[k] for k in keys} for t in beside["tests"]]
        assert alone["extra_data"]["cell_scores"] == beside["extra_data"]["cell_scores"]


def test_the_gradebook_holds_exactly_the_trusted_scores(run):
    """Does nbgrader's gradebook hold, for every student and no one else, the result file's cell scores?"""
    book = gradebook_scores(run.course)
    assert set(book) == set(run.results)
    for student, result in run.results.items():
        assert book[student] == result["extra_data"]["cell_scores"], student
    for student, cells in run.gradebook_before.items():
        assert book[student] == cells
    assert sqlite_tables(run.ctx.gradebook) == run.tables_before  # no table planted


def test_nothing_outside_the_results_changed_in_the_course(run):
    """Were only result files of graded students, the zip cache and gradebook.db written in the course?"""
    students = set(run.results)
    allowed = re.compile(r"(gradebook\.db|results/\.grading\.lock|results/\.unzipped/.*|"
                         r"results/layers/(?P<student>[^/]+)\.json)$")
    for path in set(run.before) | set(run.after):
        if run.before.get(path) == run.after.get(path):
            continue
        match = allowed.match(path)
        assert match, f"{path} was written during the batch"
        assert match.group("student") in (None, *students), path


def test_no_forked_or_daemon_process_survives_and_no_marker_is_written(run):
    """Were the fork bomb's children and the setsid daemon killed, before the daemon could write its marker?"""
    if not {"pids-limit", "rlimit-nproc"} & run.summary.layers:
        pytest.skip(f"no process-count limit on this machine: {run.summary.missing_layers}")
    assert run.survivors == {"fork": [], "daemon": []}
    assert not run.daemon_marker_seen


def test_no_connection_reached_the_loopback_server(run):
    assert run.connections == []
    out = _tests_of(run.results["loopback_tcp"], "sum_pool2d")[0]["output"]
    assert "sum_pool2d raised" in out


def test_signals_reached_neither_the_grader_nor_a_victim(run):
    """Did SIGTERM to the parent, the grading process and another process reach none of them?"""
    assert run.sigterm_received == []
    assert run.victim_alive
    assert run.summary.errors == {}


@pytest.mark.parametrize("student, function", [("read_reference", "softmax"), ("read_suites", "relu")])
def test_the_reference_and_the_suites_cannot_be_read(run, student, function):
    out = _tests_of(run.results[student], function)[0]["output"]
    assert re.search(r"raised (FileNotFoundError|PermissionError)", out), out


def test_hundred_megabytes_of_output_stay_out_of_the_result(run):
    assert result_path(run.course, ASSIGNMENT, "print_100mb").stat().st_size < MAX_RESULT_BYTES


@pytest.mark.parametrize("student", ["malformed_json", "truncated"])
def test_an_unreadable_notebook_scores_zero_with_the_reason(run, student):
    result = run.results[student]
    prefix = LOAD_FAILED.split("{")[0]
    assert result["output"].startswith(prefix) and result["extra_data"]["load"]["ok"] is False
    assert all(t["score"] == 0 and t["status"] == "failed" for t in result["tests"])
    assert all(t["output"].startswith(prefix) for t in result["tests"] if t["visibility"] == "visible")


def test_another_assignments_notebook_scores_zero_and_says_so(run):
    result = run.results["wrong_assignment"]
    assert result["output"] == WRONG_ASSIGNMENT.format(other="backprop", assignment=ASSIGNMENT)
    assert result["score"] == 0


@pytest.mark.parametrize("student, error", [("import_error", "RuntimeError"), ("sys_exit_top", "SystemExit")])
def test_a_cell_that_raises_at_load_is_reported(run, student, error):
    """Is the failing cell named in the load report, while the other cells still defined their functions?"""
    errors = run.results[student]["extra_data"]["load"]["cell_errors"]
    assert [e["type"] for e in errors] == [error]


@pytest.mark.parametrize("student, function, kinds", [
    ("endless_loop", "flatten", {"timeout"}), ("sleeper", "dense_forward", {"timeout"}),
    ("os_exit", "sum_pool2d", {"error"}), ("memory_bomb", "cross_entropy", {"error", "timeout"}),
    ("always_equal", "softmax", {"error"}), ("ndarray_subclass", "avg_pool2d", {"failed"}),
])
def test_each_failing_call_is_recorded_with_its_kind(run, student, function, kinds):
    """Does every case of the attacked function (other than bad-input cases) fail the way the attack fails?"""
    got = {t["extra_data"]["kind"] for t in _tests_of(run.results[student], function)
           if _case(function, t["extra_data"]["case"]).kind != "raises"}
    assert got and got <= kinds


def test_an_lms_zip_with_two_notebooks_is_graded(run):
    z = run.zip_summary
    assert sorted(z.graded) == sorted(ZIP_STUDENTS) and z.errors == {}
    assert run.results["zip_full"]["score"] == expected_score(HONEST[0].broken)
    assert run.results["zip_partial"]["score"] == expected_score(HONEST[1].broken)
