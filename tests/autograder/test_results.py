"""Is a result written and read in one place (autograder.results), losing nothing the grader wrote and believing
nothing a planted file claims?

Real notebooks (the layers source notebook as a student finishes it, one with relu on the wrong side, one that is no
JSON) are graded by the real grader in real sandboxes; their results go to disk and back through the codec.
"""
from __future__ import annotations

import json
import typing

import nbformat
import pytest

from autograder.build import SOURCE_ROOT
from autograder.grading import grade_submission
from autograder.integrity import SOURCE_COPY_FLAG
from autograder.results import (GRADESCOPE_HIDDEN, CaseOutcome, LoadReport, Result, Status, load_result,
                                result_path, write_result)
from autograder.safe_read import NOT_JSON
from autograder.safe_text import MAX_RESULT_BYTES
from autograder.student import convkit_check as cc
from autograder.submissions import Submission
from autograder.suites import cases_for, points_by_function
from tests.support.submissions_factory import BATCH_LIMITS
from tests.helpers import student_notebook

ASSIGNMENT = "layers"
WRONG_SIDE_RELU = "def relu(x):\n    return np.minimum(x, 0)\n"
RAISING_CELL = "raise RuntimeError('a cell of my own')"


def _notebooks():
    full = student_notebook(SOURCE_ROOT / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    full.cells.append(nbformat.v4.new_code_cell(RAISING_CELL))
    wrong = student_notebook(SOURCE_ROOT / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    relu = next(c for c in wrong.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "relu_solution")
    relu.source = WRONG_SIDE_RELU
    return {"full": nbformat.writes(full), "wrong_relu": nbformat.writes(wrong), "not_json": '{"cells": ['}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, Result]:
    folder = tmp_path_factory.mktemp("submitted")
    out = {}
    for student, text in _notebooks().items():
        path = folder / f"{student}.ipynb"
        path.write_text(text, encoding="utf-8")
        out[student] = grade_submission(ASSIGNMENT, Submission(student, path), cases_for(ASSIGNMENT),
                                        limits=BATCH_LIMITS)
    return out


def test_status_is_the_graders_own_list():
    assert typing.get_args(Status) == typing.get_args(cc.cases.Status) == cc.STATUSES


def test_grading_builds_the_scores_the_case_table_gives(graded):
    """Full marks for the finished notebook, all but relu's points for the wrong-side relu, nothing for no JSON."""
    points = points_by_function(ASSIGNMENT)
    full, wrong, broken = graded["full"], graded["wrong_relu"], graded["not_json"]
    assert full.score == full.max_score == sum(points.values())
    assert wrong.score == sum(points.values()) - points["relu"]
    assert broken.score == 0.0 and broken.load == LoadReport(False, NOT_JSON) and broken.load.sandbox is None
    assert full.flags == (SOURCE_COPY_FLAG,)
    assert [(e.type_name, e.message) for e in full.load.cell_errors] == [("RuntimeError", "a cell of my own")]
    relu = [t for t in wrong.tests if t.function == "relu"]
    assert relu and all(t.status == "failed" and t.diagnoses == ("relu_wrong_side",) for t in relu)
    assert {t.visibility for t in relu} == {"visible", "hidden"}
    assert all(t.output.startswith("hidden case:") for t in relu if t.hidden)
    assert not any(r.timed_out for r in graded.values())


@pytest.mark.parametrize("student", ["full", "wrong_relu", "not_json"])
def test_a_graded_result_reads_back_as_itself(graded, tmp_path, student):
    """Does the file on disk read back to the same Result, and write again to the same bytes?"""
    result = graded[student]
    path = result_path(tmp_path, ASSIGNMENT, student)
    write_result(path, result)
    back = load_result(path, student, ASSIGNMENT)
    assert back == result
    again = tmp_path / "again.json"
    write_result(again, back)
    assert again.read_bytes() == path.read_bytes()
    assert json.loads(path.read_text()) == result.to_json()


def test_the_json_is_gradescopes_schema_as_before(graded):
    """Gradescope's fields, in their order, and ``extra_data`` holding the grader's own: the schema tests and
    Gradescope read."""
    data = graded["wrong_relu"].to_json()
    assert list(data) == ["score", "max_score", "execution_time", "output", "visibility", "tests", "extra_data"]
    assert list(data["extra_data"]) == ["student", "assignment", "notebook", "submission_sha256", "grader",
                                        "timestamp", "timestamp_refused", "load", "cell_scores", "sandbox_layers",
                                        "sandbox_missing", "timed_out", "flags"]
    assert list(data["extra_data"]["load"]) == ["ok", "error", "error_type", "names", "callables", "stdout",
                                                "stderr", "crashed", "timed_out", "cell_errors"]
    assert sum(data["extra_data"]["cell_scores"].values()) == data["score"]
    for t in data["tests"]:
        assert list(t) == ["name", "score", "max_score", "status", "output", "visibility", "extra_data"]
        assert list(t["extra_data"]) == ["function", "case", "kind", "diagnosis", "problem", "hidden"]
        assert t["visibility"] == (GRADESCOPE_HIDDEN if t["extra_data"]["hidden"] else "visible")
        assert t["status"] == ("passed" if t["extra_data"]["kind"] == "passed" else "failed")
        if t["extra_data"]["function"] == "relu":
            assert t["extra_data"]["diagnosis"] == "relu_wrong_side"
    assert graded["not_json"].to_json()["extra_data"]["load"] == {"ok": False, "error": NOT_JSON}


def test_a_planted_file_is_believed_in_nothing_it_cannot_show(graded, tmp_path):
    """A file planted in results/: a case passes only when both its marks say so, is visible only when both say so,
    keeps a problem only from the grader's vocabulary; the file's student, folders and hash are not taken."""
    data = graded["wrong_relu"].to_json()
    tests = data["tests"]
    relu = [i for i, t in enumerate(tests) if t["extra_data"]["function"] == "relu"][:4]
    assert tests[relu[2]]["extra_data"]["hidden"]
    tests[relu[0]]["status"] = "passed"                                     # kind still says failed
    tests[relu[1]]["extra_data"].update(kind="passed")                      # status still says failed
    tests[relu[2]].update(visibility="visible")                             # extra_data still says hidden
    tests[relu[2]]["extra_data"].update(hidden=True, problem="<b>forged</b>", diagnosis="a,b\ud800,, c")
    tests[relu[3]]["extra_data"]["kind"] = "<script>"
    data["extra_data"].update(student="mallory", notebook="/home/prof/course/x.ipynb", submission_sha256="00",
                              recorded="yes")
    path = tmp_path / "planted.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    read = load_result(path, "wrong_relu", ASSIGNMENT)
    cases = [read.tests[i] for i in relu]
    assert [c.status for c in cases] == ["failed", "failed", "failed", "failed"]
    assert cases[2].hidden and cases[2].problem is None and cases[2].diagnoses == ("a", "b\ufffd", "c")
    assert (read.student, read.notebook, read.submission_sha256, read.recorded) == ("wrong_relu", "x.ipynb",
                                                                                    None, None)
    assert read.problems == ()  # each field was of its type: nothing malformed, only not believed
    assert Result.from_json(read.to_json(), "wrong_relu", ASSIGNMENT) == read


MALFORMED = [
    ({"score": "45", "max_score": None, "tests": "all"}, ["score is not", "tests is not a list"]),
    ({"tests": [1, None, {"score": "x", "extra_data": []}]}, ["score is missing", "tests[0] is not an object",
                                                              "tests[2].score", "tests[2].extra_data"]),
    ({"score": 1, "max_score": 2, "tests": [], "extra_data": {"load": "broken", "sandbox_layers": "x"}},
     ["extra_data.load is not an object", "extra_data.sandbox_layers is not a list"]),
]


@pytest.mark.parametrize("raw, problems", MALFORMED)
def test_from_json_types_every_field_and_says_what_was_wrong(raw, problems):
    result = Result.from_json(raw, "s\ud800", "layers")
    said = " | ".join(result.problems)
    for words in problems:
        assert words in said, (words, said)
    assert isinstance(result.score, float) and all(isinstance(t, CaseOutcome) for t in result.tests)
    assert result.student == "s\ufffd"
    json.dumps(result.to_json(), ensure_ascii=False).encode("utf-8")
    assert Result.from_json(result.to_json(), "s\ud800", "layers") == result  # reading twice changes nothing


def test_from_json_treats_a_doubtful_case_as_hidden():
    raw = {"score": 0, "max_score": 1, "tests": [
        {"name": "a", "visibility": "visible", "extra_data": {"hidden": "no"}},
        {"name": "b", "visibility": "weird", "extra_data": {"hidden": False}},
        {"name": "c", "visibility": "visible", "extra_data": {"hidden": False}}]}
    assert [t.hidden for t in Result.from_json(raw, "s", "layers").tests] == [True, True, False]


def test_from_json_refuses_what_is_not_a_result():
    with pytest.raises(ValueError, match="the file holds a JSON list"):
        Result.from_json([1, 2], "s", "layers")


def test_load_result_names_each_problem(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe not json")
    with pytest.raises(ValueError, match="could not be read: UnicodeDecodeError"):
        load_result(bad, "bad", "layers")
    big = tmp_path / "big.json"
    with open(big, "wb") as fh:
        fh.truncate(MAX_RESULT_BYTES + 1)
    with pytest.raises(ValueError, match="over the .* bytes a result file may have"):
        load_result(big, "big", "layers")
