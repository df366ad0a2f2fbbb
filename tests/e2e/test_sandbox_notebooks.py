"""Does the sandbox keep the grader's helpers out of a notebook's way, and show a student the line of their own
cell that failed (and nothing of the grader's)?

Real notebooks of the ``layers`` release (submissions_factory), graded by ``grade_submission`` in real sandboxes.
"""
from __future__ import annotations

import nbformat
import pytest

from autograder import grading
from autograder.sandbox import Sandbox
from autograder.student import convkit_check as cc
from autograder.submissions import Submission
from autograder.suites import cases_for
from tests.support.submissions_factory import (ASSIGNMENT, BATCH_LIMITS, expected_score, honest_notebook,
                                              insert_cell, pristine_course, replace_body, with_stubs)

pytestmark = pytest.mark.slow  # the nbgrader course is built once (~15 s); each test grades in seconds

# Every name the worker's trusted preamble and trampoline use (grading._worker_preamble), defined by a cell at the
# top, then reassigned by one at the end, together with convkit_check's own names; the self-check's names import
# there as they do in the notebook.
SHADOWS = """
import convkit_check
from convkit_check import check, run_case
__convkit_call__ = lambda *args, **kwargs: 0
__convkit_cell_errors = lambda: [{"cell": 1, "type": "Forged", "message": "forged"}]
_convkit = _sys = _types = unmark = None
student_namespace = {"relu": None}
call_in_namespace = CALLABLES = CELL_ERRORS = None
"""
REASSIGN = SHADOWS.replace("None", "'reassigned'") + """
convkit_check.call_in_namespace = lambda *args, **kwargs: 0
convkit_check.FunctionMissing = None
convkit_check.CELL_ERRORS = "elsewhere"
"""
# relu's solution cell, replaced: line 3 of the cell reads a name that does not exist.
NAME_ERROR_CELL = "def relu(x):\n    y = x\n    return undefined_name + y\n"
GRADER_FRAMES = ("worker_boot", "<preamble>", "<student>", "convkit_check.py", "__convkit_call__", "<protocol>",
                 "<codec>")


def _grade(course, tmp_path, student, nb) -> dict:
    path = tmp_path / f"{student}.ipynb"
    path.write_text(nbformat.writes(nb))
    return grading.grade_submission(ASSIGNMENT, Submission(student, path), cases_for(ASSIGNMENT),
                                    limits=BATCH_LIMITS).to_json()


def _cell_number(nb, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb.cells, start=1)
                if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return pristine_course(tmp_path_factory)


def test_a_notebook_defining_the_graders_helper_names_is_graded_like_its_honest_twin(course, tmp_path):
    honest = honest_notebook(course)
    shadowing = insert_cell(honest_notebook(course), SHADOWS, "setup")
    last = [c for c in shadowing.cells if c.metadata.get("nbgrader", {}).get("solution")][-1]
    insert_cell(shadowing, REASSIGN, last.metadata.nbgrader.grade_id)
    twin, result = _grade(course, tmp_path, "twin", honest), _grade(course, tmp_path, "shadowing", shadowing)
    assert twin["score"] == expected_score({}) == result["score"]
    assert [(t["name"], t["score"], t["status"]) for t in result["tests"]] == \
           [(t["name"], t["score"], t["status"]) for t in twin["tests"]]
    assert result["extra_data"]["load"]["cell_errors"] == [] and "Forged" not in result["output"]


def test_a_name_error_shows_the_students_cell_line_and_text_and_no_grader_frame(course, tmp_path):
    nb = honest_notebook(course)
    cell = _cell_number(nb, "relu_solution")
    next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "relu_solution").source = \
        NAME_ERROR_CELL
    result = _grade(course, tmp_path, "name_error", nb)
    visible = [t for t in result["tests"] if t["extra_data"]["function"] == "relu" and t["visibility"] == "visible"
               and t["extra_data"]["kind"] == "error"]
    assert visible, [t["output"] for t in result["tests"] if t["extra_data"]["function"] == "relu"]
    for t in visible:
        assert f'File "<cell {cell}>", line 3, in relu' in t["output"]
        assert "return undefined_name + y" in t["output"]
        assert "NameError" in t["output"]
        assert not [g for g in GRADER_FRAMES if g in t["output"]], t["output"]

    path = tmp_path / "name_error.ipynb"
    with (Sandbox(cc.notebook_source(path), limits=BATCH_LIMITS, trusted_preamble=grading._worker_preamble()) as sb,
          pytest.raises(cc.StudentException) as info):
        grading._sandbox_call(sb)("relu", [1.0], {})
    assert info.value.frames == ((f"<cell {cell}>", 3, "relu"),)


def test_a_stub_reached_through_another_function_is_named_in_the_graders_messages(course, tmp_path):
    """cross_entropy written on top of softmax, softmax still a stub: every cross_entropy case, public and hidden,
    says "cross_entropy calls softmax, which is not implemented yet" (the sandbox reports the frames), its
    bad-input cases too (they earn nothing before cross_entropy works)."""
    nb = with_stubs(honest_notebook(course), course, ["softmax"])
    nb = replace_body(nb, "cross_entropy", "p = softmax(z)\nreturn -np.mean(np.log(p[np.arange(len(y)), y]))\n")
    result = _grade(course, tmp_path, "calls_a_stub", nb)
    tests = [t for t in result["tests"] if t["extra_data"]["function"] == "cross_entropy"]
    assert tests and {t["extra_data"]["kind"] for t in tests} == {"stub"}, [t["extra_data"] for t in tests]
    calls = cc.STUB_CALLS_MESSAGE.format(function="cross_entropy", stub="softmax")
    assert [(t["name"], t["output"]) for t in tests if calls not in t["output"]] == []
    assert {t["visibility"] for t in tests} == {"visible", "after_published"}  # public and hidden cases
