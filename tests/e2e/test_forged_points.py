"""Can a submission forge points or read hidden inputs back, and does a notebook that is not a student's work stay
ungraded? Real notebooks graded in one real ``layers`` batch beside an honest one; scores come from the case table.

* a function that remembers every input it is called with and raises (or returns) them on the next call: no hidden
  input appears anywhere in its result, while the public inputs do (the attack works; the ordering defeats it);
* a "lookup" function that returns the shipped public expected values, and functions that raise ValueError on
  everything: their public and bad-input cases earn nothing (convkit_check.credit);
* the course's source notebook (nbgrader's solution delimiters in it) and notebooks with malformed nbgrader
  metadata: a load failure naming the problem, never a missing result;
* an honest notebook whose check cells were deleted: still graded by its functions.
"""
from __future__ import annotations

import json
import textwrap

import nbformat
import numpy as np
import pytest

from autograder.grade import grade_batch
from autograder.integrity import MARKERS_MESSAGE, STRUCTURE_MESSAGE
from autograder.results import read_result, result_path
from autograder.student.convkit_check import UNCONFIRMED_CHECK_MESSAGE, UNCONFIRMED_MESSAGE
from autograder.suites import cases_for, points_by_function
from tests.support.submissions_factory import (ASSIGNMENT, BATCH_LIMITS, SOURCE_ROOT, _cell, delete_cells,
                                              expected_score, fresh_course, honest_notebook, replace_body,
                                              write_submission)

pytestmark = pytest.mark.slow

# Every input's first element is remembered; each call then raises with all of them, or returns them as its answer.
_REMEMBER = """
global _SEEN
try:
    _SEEN
except NameError:
    _SEEN = []
_SEEN.append(repr(float(np.asarray({arg}).flat[0])))
if len(_SEEN) % 2:
    raise ValueError("seen: " + " ".join(_SEEN))
return np.array([float(v) for v in _SEEN])
"""
_RAISE_ALWAYS = 'raise ValueError("no")'


def _lookup_body(function: str) -> str:
    """A body that answers the public cases from a table of their expected values, and zeros otherwise."""
    table = {}
    for c in cases_for(ASSIGNMENT, "visible"):
        if c.function == function and c.kind == "array" and isinstance(c.expected, np.ndarray):
            key = np.asarray(c.args[0], dtype=np.float64).tobytes().hex()
            table[key] = (c.expected.tolist(), str(c.expected.dtype))
    return textwrap.dedent(f"""
        _TABLE = {table!r}
        key = np.asarray(x, dtype=np.float64).tobytes().hex()
        if key in _TABLE:
            return np.array(_TABLE[key][0], dtype=_TABLE[key][1])
        return np.zeros_like(x)
    """)


def _first_values(case) -> list[str]:
    return [repr(float(np.asarray(a).flat[0])) for a in case.args[:1] if isinstance(a, np.ndarray) and a.size]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = fresh_course(tmp_path_factory, "forged")
    notebooks = {
        "honest": honest_notebook(course),
        "remembers": replace_body(honest_notebook(course), "relu", _REMEMBER.format(arg="x")),
        "lookup": replace_body(honest_notebook(course), "relu", _lookup_body("relu")),
        "raises_everywhere": honest_notebook(course),
        "no_check_cells": delete_cells(honest_notebook(course),
                                       *[f"{f}_check" for f in points_by_function(ASSIGNMENT)]),
    }
    for f in points_by_function(ASSIGNMENT):
        replace_body(notebooks["raises_everywhere"], f, _RAISE_ALWAYS)
    for student, nb in notebooks.items():
        write_submission(course, student, nb)
    write_submission(course, "source_notebook", (SOURCE_ROOT / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes())
    string_meta = honest_notebook(course)
    string_meta.cells[0].metadata["nbgrader"] = "solution"
    list_id = honest_notebook(course)
    _cell(list_id, "relu_solution").metadata["nbgrader"]["grade_id"] = ["relu_solution"]
    for student, nb in (("string_metadata", string_meta), ("list_grade_id", list_id)):
        # nbformat would refuse to write these: they are written as JSON, as a broken tool would.
        write_submission(course, student, json.dumps(nb).encode())
    summary = grade_batch(ASSIGNMENT, [], course, workers=2, progress=False, limits=BATCH_LIMITS)
    results = {s: read_result(result_path(course, ASSIGNMENT, s)) for s in summary.graded}
    return course, summary, results


def test_every_submission_has_a_result_and_no_grader_error(graded):
    _, summary, results = graded
    assert summary.errors == {}
    assert set(results) == {"honest", "remembers", "lookup", "raises_everywhere", "no_check_cells",
                            "source_notebook", "string_metadata", "list_grade_id"}
    assert results["honest"]["score"] == results["honest"]["max_score"] == expected_score({})


def test_no_hidden_input_reaches_the_result_of_a_function_that_remembers_its_inputs(graded):
    """Do the public cases' outputs show what the function remembered of public inputs, and never a hidden one?"""
    result = graded[2]["remembers"]
    text = json.dumps(result)
    relu = [c for c in cases_for(ASSIGNMENT) if c.function == "relu"]
    public = [v for c in relu if c.visibility == "visible" for v in _first_values(c)]
    hidden = [v for c in relu if c.visibility != "visible" for v in _first_values(c)]
    assert public and hidden and not set(public) & set(hidden)
    assert any(v in text for v in public)  # the attack works on what it may see
    assert [v for v in hidden if v in text] == []
    for t in result["tests"]:
        if t["extra_data"]["hidden"]:
            # the status and what the grader found (the student's own line: its source text), never the message
            # or the answer the code built
            assert t["output"].split("\n")[0] in ("hidden case: error", "hidden case: failed",
                                                 "hidden case: passed", "hidden case: unconfirmed"), t["output"]
            assert "seen: -" not in t["output"] and not any(f"seen: {d}" in t["output"] for d in "0123456789")
    assert result["score"] == expected_score({"relu": "body"})


def test_a_lookup_of_the_public_answers_earns_nothing(graded):
    result = graded[2]["lookup"]
    relu = [t for t in result["tests"] if t["extra_data"]["function"] == "relu"]
    public = [t for t in relu if not t["extra_data"]["hidden"]]
    assert public and all(t["score"] == 0 and t["extra_data"]["kind"] == "unconfirmed" for t in public)
    assert all(UNCONFIRMED_MESSAGE.format(function="relu") in t["output"] for t in public)
    assert result["score"] == expected_score({"relu": "body"})


def test_raising_value_error_everywhere_earns_nothing(graded):
    result = graded[2]["raises_everywhere"]
    assert result["score"] == 0.0
    raises = {(c.function, c.case_id) for c in cases_for(ASSIGNMENT) if c.kind == "raises"}
    checks = [t for t in result["tests"] if (t["extra_data"]["function"], t["extra_data"]["case"]) in raises]
    unconfirmed = [t for t in checks if t["extra_data"]["kind"] == "unconfirmed"]
    assert unconfirmed and all(t["score"] == 0 for t in checks)
    assert all(UNCONFIRMED_CHECK_MESSAGE.format(function=t["extra_data"]["function"]) in t["output"]
               for t in unconfirmed if not t["extra_data"]["hidden"])


def test_the_course_source_notebook_is_refused_by_its_delimiters(graded):
    result = graded[2]["source_notebook"]
    assert result["score"] == 0.0 and result["extra_data"]["load"]["ok"] is False
    prefix = MARKERS_MESSAGE.split("{")[0]
    assert result["output"].startswith(prefix) and "BEGIN SOLUTION" in result["output"]


@pytest.mark.parametrize("student, problem", [("string_metadata", "its nbgrader metadata is not a mapping"),
                                              ("list_grade_id", "its nbgrader grade_id is not a string")])
def test_malformed_nbgrader_metadata_is_a_load_failure_naming_the_cell(graded, student, problem):
    result = graded[2][student]
    assert result["score"] == 0.0 and result["extra_data"]["load"]["ok"] is False
    nb = nbformat.reads(json.dumps(honest_notebook(graded[0])), as_version=4)
    cell = 1 if student == "string_metadata" else \
        1 + [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells].index("relu_solution")
    assert result["output"] == STRUCTURE_MESSAGE.format(cell=cell, problem=problem)


def test_a_notebook_without_its_check_cells_is_graded_by_its_functions(graded):
    result = graded[2]["no_check_cells"]
    assert result["score"] == expected_score({})


def test_the_gradescope_results_of_a_remembering_function_hold_no_hidden_input(graded, tmp_path):
    """Does Gradescope's results.json (its visible tests included) carry no hidden input either?"""
    from autograder.export import run_gradescope

    course = graded[0]
    upload = tmp_path / "submission"
    upload.mkdir()
    (upload / f"{ASSIGNMENT}.ipynb").write_bytes(
        (course / "submitted" / "remembers" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes())
    run_gradescope(ASSIGNMENT, upload, tmp_path / "results" / "results.json")
    text = (tmp_path / "results" / "results.json").read_text()
    relu = [c for c in cases_for(ASSIGNMENT) if c.function == "relu"]
    assert any(v in text for c in relu if c.visibility == "visible" for v in _first_values(c))
    assert [v for c in relu if c.visibility != "visible" for v in _first_values(c) if v in text] == []
