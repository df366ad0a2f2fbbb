"""The student-side runner's two grader-facing rules: what a hidden case may say (the grader's findings only) and
the credit rule (a public case earns its points once a hidden one confirms the function)."""
from __future__ import annotations

import numpy as np
import pytest

from autograder.student import convkit_check as cc
from autograder.student.convkit_check import Case, run_case
from tests.autograder.student.test_convkit_check import _case, _run


# ---- what a hidden case says: the grader's findings only ----
SECRET = "s3cr3t-7.25"


def _hidden(case, func):
    case = Case(**{**case.__dict__, "visibility": "hidden"})
    r = _run(case, func)
    return r, cc.hidden_output(r, case)


@pytest.mark.parametrize("returned, status, problem, text", [
    (np.zeros((3, 3)), "failed", cc.WRONG_SHAPE, "result: wrong shape"),
    (np.array([[19.0, np.nan], [37, 43]]), "failed", cc.NON_FINITE,
     "result: NaN or infinite values where the expected values are finite"),
    (np.array([[19.0, 25], [37, 44.5]]), "failed", cc.WRONG_VALUES, "result: right shape, wrong values"),
    (SECRET, "failed", cc.WRONG_TYPE,
     "result: not the kind of value expected (an array, a tuple of arrays, a number)"),
    (None, "failed", cc.RETURNED_NONE, cc.NONE_MESSAGE.format(function="correlate2d")),
])
def test_a_failed_hidden_case_says_what_is_wrong_and_nothing_it_was_given(returned, status, problem, text):
    r, out = _hidden(_case(), lambda im, k: returned)
    assert (r.status, r.problem) == (status, problem)
    assert out == cc.HIDDEN_OUTPUT.format(status=status) + "\n" + text
    for leak in (SECRET, "44.5", "43", "(3, 3)", "(2, 2)"):
        assert leak not in out


def test_a_hidden_exception_shows_its_builtin_type_and_the_students_line_never_its_message():
    def raises(im, k):
        kind = type(f"Leak_{SECRET}".replace("-", "_").replace(".", "_"), (IndexError,), {})
        raise kind(f"{SECRET} {im.tolist()}")

    case = Case(**{**_case().__dict__, "visibility": "hidden"})
    r = _run(case, raises)
    assert (r.status, r.problem, r.raised) == ("error", cc.RAISED, "IndexError")
    out = cc.hidden_output(r, case)
    assert out.splitlines()[1].startswith(cc.HIDDEN_PROBLEM_MESSAGES[cc.RAISED].format(function="correlate2d",
                                                                                      type="IndexError"))
    assert SECRET.split("-")[0] not in out and "Leak" not in out and "[[" not in out


@pytest.mark.parametrize("names, builtin", [
    (("IndexError", "LookupError", "Exception"), "IndexError"),
    (("AxisError", "ValueError", "IndexError", "Exception"), "ValueError"),  # numpy's: its first built-in base
    (("made up <b>", "__loader__", "print", "True", "Exception"), "Exception"),  # names of non-exceptions skipped
    (("Leak_4_2", "object"), None),
    ((42, None), None),
])
def test_only_a_real_builtin_exception_name_is_kept(names, builtin):
    assert cc.builtin_exception_name(names) == builtin


def test_the_students_line_comes_from_the_graders_own_cells_never_from_the_worker():
    cells = {4: "import numpy as np", 7: "def f(x):\n    y = x + 1\n    return y[10]"}
    frames = [("convkit_check.py", 700, "run_case"), ("<cell 7>", 3, "f"), ("<numpy>", 1, "x")]
    assert cc.student_line(frames, cells) == cc.HIDDEN_LINE_MESSAGE.format(cell=7, lineno=3, text="return y[10]")
    # a frame the grader cannot place (a cell it does not hold, a line out of range, junk) names no line
    for bad in ([("<cell 9>", 1, "f")], [("<cell 7>", 99, "f")], [("<cell 7>", True, "f")], [None], ["ab"]):
        assert cc.student_line(bad, cells) is None
    assert cc.student_line([("<cell 4>", 1, "f"), ("<cell 7>", 0, "f")], cells).endswith("import numpy as np")
    long = {1: "x = " + "1 + " * 100 + "1"}
    assert len(cc.student_line([("<cell 1>", 1, "f")], long)) < 200


def test_a_remote_exception_names_its_line_through_the_frames_the_sandbox_reports():
    exc = cc.StudentException(["ValueError", "Exception"], SECRET, "")
    exc.frames = (("<cell 7>", 2, "f"),)

    def call(name, args, kwargs):
        raise exc

    case = Case(**{**_case().__dict__, "visibility": "hidden"})
    r = run_case(case, call, {7: "def f(x):\n    out[0] = x[None]"})
    assert (r.raised, r.line) == ("ValueError",
                                  cc.HIDDEN_LINE_MESSAGE.format(cell=7, lineno=2, text="out[0] = x[None]"))
    assert cc.hidden_output(r, case) == "\n".join([
        cc.HIDDEN_OUTPUT.format(status="error"),
        cc.HIDDEN_PROBLEM_MESSAGES[cc.RAISED].format(function="correlate2d", type="ValueError") + " " + r.line])
    assert run_case(case, call).line is None  # no cells: no line (the worker's text is never used)


def test_timeout_missing_stub_and_bad_input_cases_explain_themselves_when_hidden():
    def timeout(name, args, kwargs):
        raise cc.CallTimeout()

    def stub(im, k):
        raise NotImplementedError(SECRET)

    hidden = {**_case().__dict__, "visibility": "hidden"}
    case = Case(**hidden)
    assert cc.hidden_output(run_case(case, timeout), case).endswith(cc.TIMEOUT_MESSAGE.format(function="correlate2d"))
    assert cc.hidden_output(_run(case, stub), case).endswith(cc.STUB_MESSAGE.format(function="correlate2d"))
    bad = Case(**{**hidden, "kind": "raises", "raises": ("ValueError",), "expected": None})
    out = cc.hidden_output(_run(bad, lambda im, k: np.zeros(2)), bad)
    assert out.endswith(cc.HIDDEN_PROBLEM_MESSAGES[cc.NOT_RAISED].format(function="correlate2d",
                                                                         expected="ValueError"))

    def wrong(im, k):
        raise TypeError(SECRET)

    out = cc.hidden_output(_run(bad, wrong), bad)
    assert "but it raised TypeError" in out and SECRET not in out


def test_the_numpy_warning_names_both_versions_when_the_majors_differ(tmp_path):
    cc.save_cases([_case()], tmp_path, extra={"numpy": "1.26.4"})
    warning = cc.numpy_version_warning(tmp_path, here="2.4.6")
    assert warning == cc.NUMPY_VERSION_MESSAGE.format(here="2.4.6", grader="1.26.4", major=1, next=2)
    assert cc.numpy_version_warning(tmp_path, here="1.25.0") is None
    cc.save_cases([_case()], tmp_path, extra={"numpy": np.__version__})
    assert cc.numpy_version_warning(tmp_path) is None
    cc.save_cases([_case()], tmp_path)  # cases frozen before the version was recorded: nothing to compare
    assert cc.numpy_version_warning(tmp_path, here="1.26.4") is None


# ---- the credit rule (convkit_check.credit) --------------------------------------------------------------------
def _credit_case(case_id, visibility="visible", kind="array"):
    return cc.Case(assignment="layers", function="relu", case_id=case_id, visibility=visibility, kind=kind, points=1.0)


def _outcome(case, status):
    return cc.CaseResult(case.case_id, case.function, 1.0 if status == "passed" else 0.0, 1.0, status, "report")


@pytest.mark.parametrize("twin, hidden, public_points, check_points", [
    (True, "failed", 1.0, 1.0),     # right on the public inputs and on its twin: a working function, whatever else
    (False, "passed", 0.0, 1.0),    # the twin fails (a lookup of the shipped answers): the public case earns nothing
    (None, "passed", 1.0, 1.0),     # no twin: a hidden case that passes confirms it
    (None, "failed", 0.0, 0.0),     # no twin, no hidden case passes: nothing, nor for rejecting bad input
])
def test_a_public_case_earns_its_points_when_its_twin_or_a_hidden_case_confirms_it(twin, hidden, public_points,
                                                                                 check_points):
    cases = [_credit_case("public"), _credit_case("hidden", "hidden"), _credit_case("bad", "visible", "raises")]
    results = [_outcome(cases[0], "passed"), _outcome(cases[1], hidden), _outcome(cases[2], "passed")]
    twins = {} if twin is None else {("relu", "public"): twin}
    got = cc.credit(cases, results, twins)
    assert [r.points for r in got] == [public_points, 1.0 if hidden == "passed" else 0.0, check_points]
    if not public_points:
        assert got[0].status == "unconfirmed" and cc.UNCONFIRMED_MESSAGE.format(function="relu") in got[0].message


def test_in_the_self_check_rejecting_bad_input_counts_once_an_ordinary_case_passes():
    cases = [_credit_case("public"), _credit_case("bad", "visible", "raises")]
    assert [r.points for r in cc.credit(cases, [_outcome(cases[0], "passed"), _outcome(cases[1], "passed")])] == [1, 1]
    got = cc.credit(cases, [_outcome(cases[0], "failed"), _outcome(cases[1], "passed")])
    assert [r.points for r in got] == [0, 0] and got[1].status == "unconfirmed"
    assert cc.UNCONFIRMED_CHECK_MESSAGE.format(function="relu") in got[1].message
