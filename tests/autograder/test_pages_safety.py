"""Does one student's hostile answer, notebook or result file cost only that student's page, and no page leak?

Fast: result files in the grader's schema built by hand (test_feedback.py's ``make_result``) or written malformed
on purpose, real notebooks, the real sandbox for the pictures. tests/e2e/test_pages_hostile.py (slow) makes the
same attacks through the real grader. Students named ``a-*`` sort before the honest ``z-honest``: a run that stops
at the first bad page leaves the honest student without one.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import nbformat
import pytest

from autograder import feedback as fb
from autograder import report as rp
from autograder.build import SOURCE_ROOT
from autograder.results import Result
from autograder.safe_text import NOT_A_RESULT, REPLACEMENT
from autograder.suites import cases_for
from tests.autograder.test_feedback import (ASSIGNMENT, add_student, assert_no_hidden_text, assert_valid_pngs,
                                        make_result, page_text, submitted, write_notebook)

# Result files as a crash, a bug or a hand edit could leave them: (file name, bytes).
MALFORMED_FILES = {
    "a-not-json": b"{not json",
    "a-list": b"[1, 2, 3]",
    "a-bad-utf8": b'{"score": "\xff"}',
    "a-wrong-types": json.dumps({"score": "x", "max_score": [], "tests": "all", "extra_data": []}).encode(),
    "a-bad-tests": json.dumps({"score": 1, "max_score": 2, "tests": [7, {"name": 3, "extra_data": "e",
                                                                         "output": {"o": 1}}]}).encode(),
}


def _surrogates(result: dict) -> dict:
    """``result`` with lone surrogates in every text a page shows (json writes them as "\\ud800" escapes)."""
    extra = result["extra_data"]
    extra["student"] = extra["timestamp"] = extra["grader"] = "\ud800"
    extra["load"] = {"ok": False, "error": "boom \udfff", "cell_errors": [{"cell": "\ud800", "type": "E\ud800",
                                                                           "message": "m\ud800"}]}
    extra["sandbox_layers"], extra["sandbox_missing"] = ["rl\ud800"], {"bw\ud800": "why\ud800"}
    for t in result["tests"]:
        t["name"], t["output"] = t["name"] + "\ud800", "out \ud800"
        t["extra_data"]["diagnosis"] = "flipped_kernel, \ud800"
    result["output"] = "\ud800"
    return result


def _write_raw(course: Path, student: str, raw: bytes, assignment: str = ASSIGNMENT) -> None:
    path = course / "results" / assignment / f"{student}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)


@pytest.fixture
def malformed(tmp_path):
    """A class whose result files are broken in each way, plus one with lone surrogates and an honest one."""
    for name, raw in MALFORMED_FILES.items():
        _write_raw(tmp_path, name, raw)
    _write_raw(tmp_path, "a-surrogates", json.dumps(_surrogates(make_result("x", None))).encode())
    honest = write_notebook(submitted(tmp_path, "z-honest"))
    add_student(tmp_path, "z-honest", make_result("z-honest", honest))
    return tmp_path


def test_malformed_results_each_get_a_page_and_the_run_goes_on(malformed):
    """Does every result file, however broken, get a page with timestamp.txt and submission_secret.txt, the
    unreadable ones named in ``degraded``, and the honest student's page drawn fully?"""
    pages = fb.write_feedback(ASSIGNMENT, malformed, pictures=False)
    students = sorted([*MALFORMED_FILES, "a-surrogates", "z-honest"])
    assert sorted(p.parents[1].name for p in pages) == students
    for page in pages:
        assert (page.parent / "timestamp.txt").read_text().strip()
        assert (page.parent / "submission_secret.txt").read_text().strip()
        page.read_bytes().decode("utf-8")  # strict: valid UTF-8
    assert sorted(pages.degraded) == ["a-bad-utf8", "a-list", "a-not-json"]
    assert NOT_A_RESULT.format(got="list") in pages.degraded["a-list"]
    line = pages.line(ASSIGNMENT, malformed / "feedback")
    assert line.endswith(fb.DEGRADED_LINE.format(count=3, students="a-bad-utf8, a-list, a-not-json"))
    short = page_text(fb.feedback_path(malformed, ASSIGNMENT, "a-not-json").read_text())
    assert fb.PAGE_NOT_DRAWN.split("(")[0].strip() in short
    assert "45 / 45 points" in " ".join(page_text(fb.feedback_path(malformed, ASSIGNMENT, "z-honest")
                                                  .read_text()).split())


def test_lone_surrogates_in_a_result_become_replacement_characters(malformed):
    fb.write_feedback(ASSIGNMENT, malformed, students=["a-surrogates"], pictures=False)
    text = page_text(fb.feedback_path(malformed, ASSIGNMENT, "a-surrogates").read_bytes().decode("utf-8"))
    assert "boom " + REPLACEMENT in text and "cell \ufffd raised E\ufffd: m\ufffd" in text
    assert "relu [matrix]" + REPLACEMENT in text


def test_report_goes_through_malformed_results_and_lists_them(malformed):
    """Does `autograder report` write every page and both CSV files, naming each unreadable file and each
    malformed result?"""
    files = rp.write_report(malformed)
    index = page_text(files["index.html"].read_bytes().decode("utf-8"))
    for name in ("a-not-json", "a-list", "a-bad-utf8"):
        assert f"layers/{name}.json" in index
    layers = page_text(files["layers.html"].read_bytes().decode("utf-8"))
    assert "a-wrong-types" in layers and "malformed result file: extra_data is not an object (a list)" in layers
    assert "score is not a finite number (a str): counted as 0" in layers
    assert "a-bad-tests" in layers and "tests[0] is not an object" in layers
    assert "boom " + REPLACEMENT in layers and "rl" + REPLACEMENT in layers
    with open(files["grades.csv"], newline="", encoding="utf-8") as fh:
        grades = {r[rp.GRADES_ID_HEADER]: r[rp.TOTAL_HEADER] for r in csv.DictReader(fh)}
    assert grades == {"a-bad-tests": "1", "a-surrogates": "45", "a-wrong-types": "0", "z-honest": "45"}


def test_a_35_byte_notebook_result_is_reported(tmp_path):
    """The grader's result for {"nbformat": "\\ud800", "cells": []} (its load error names the surrogate)."""
    result = make_result("a-tiny", None, load_error="NBFormatError: Unsupported nbformat version \ud800")
    add_student(tmp_path, "a-tiny", result)
    add_student(tmp_path, "z-honest", make_result("z-honest", None))
    files = rp.write_report(tmp_path)
    text = page_text(files["layers.html"].read_bytes().decode("utf-8"))
    assert "failed to load: NBFormatError: Unsupported nbformat version " + REPLACEMENT in text


# ---- CSV formula injection ---------------------------------------------------------------------------------------
FORMULA_IDS = {'=HYPERLINK("http://x")': '\'=HYPERLINK("http://x")', "+1": "'+1", "-2+3": "'-2+3",
               "@SUM(1)": "'@SUM(1)", "\tx": "'\tx", "\rx": "'\rx"}


def _read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_grades_and_cases_csv_neutralise_formula_ids(tmp_path):
    """Is every student id a spreadsheet would run read back from both CSV files with a leading quote?"""
    result = Result.from_json(make_result("x", None), "x", ASSIGNMENT)
    results = {ASSIGNMENT: {sid: result for sid in FORMULA_IDS}}
    grades = _read_csv(rp.write_grades_csv(tmp_path / "grades.csv", results))
    assert sorted(r[0] for r in grades[1:]) == sorted(FORMULA_IDS.values())
    assert all(r[-1] == f"{result.score:g}" for r in grades[1:])
    cases = _read_csv(rp.write_cases_csv(tmp_path / "cases.csv", results))
    assert {r[0] for r in cases[1:]} == set(FORMULA_IDS.values())


def test_formula_folder_names_are_neutralised_end_to_end(tmp_path):
    """Ids that are folder names (no "/"): result files named so, through write_report's CSV files."""
    ids = {sid: cell for sid, cell in FORMULA_IDS.items() if "/" not in sid}
    ids['=HYPERLINK("x")'] = '\'=HYPERLINK("x")'
    for sid in ids:
        add_student(tmp_path, sid, make_result(sid, None))
    files = rp.write_report(tmp_path)
    assert sorted(r[0] for r in _read_csv(files["grades.csv"])[1:]) == sorted(ids.values())
    assert {r[0] for r in _read_csv(files["cases.csv"])[1:]} == set(ids.values())


# ---- answers the picture code could not draw ---------------------------------------------------------------------
def test_an_empty_answer_gets_its_page_and_pictures(tmp_path):
    """relu's answer with an empty leading axis: drawn as an empty panel, and the next student still gets a page."""
    body = "def relu(x):\n    return np.zeros((0,) + np.shape(x)[1:])\n"
    nb = write_notebook(submitted(tmp_path, "a-empty"), {"relu_solution": body})
    add_student(tmp_path, "a-empty", make_result("a-empty", nb, {"relu": None}))
    honest = write_notebook(submitted(tmp_path, "z-honest"))
    add_student(tmp_path, "z-honest", make_result("z-honest", honest))
    pages = fb.write_feedback(ASSIGNMENT, tmp_path)
    assert len(pages) == 2 and pages.degraded == {}
    html = pages[0].read_text()
    public = [c for c in cases_for(ASSIGNMENT, "visible") if c.function == "relu" and c.kind == "array"]
    assert assert_valid_pngs(html) == len(public)


def _backprop_notebook(path: Path, old: str, new: str) -> Path:
    nb = nbformat.read(str(SOURCE_ROOT / "backprop" / "backprop.ipynb"), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "conv2d_backward_solution")
    assert old in cell.source
    cell.source = cell.source.replace(old, new)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def test_an_array_where_a_tuple_was_expected_gets_a_note(tmp_path):
    """conv2d_backward returning dx alone (not (dx, dw, db)): a note per failed public case, not a stopped run."""
    nb = _backprop_notebook(submitted(tmp_path, "a-only-dx", "backprop"), "return dx, dw, db", "return dx")
    add_student(tmp_path, "a-only-dx", make_result("a-only-dx", nb, {"conv2d_backward": None}, assignment="backprop"))
    pages = fb.write_feedback("backprop", tmp_path)
    assert pages.degraded == {}
    text = page_text(pages[0].read_text())
    public = [c for c in cases_for("backprop", "visible") if c.function == "conv2d_backward" and c.kind == "array"]
    assert text.count(fb.PICTURE_NOT_OUTPUTS.format(expected=3, got="one ndarray")) == len(public)


def test_a_lone_surrogate_in_a_solution_cell(tmp_path):
    """A notebook whose JSON holds "\\ud800" in a solution cell: the code is shown, the surrogate replaced."""
    nb = nbformat.read(str(SOURCE_ROOT / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "relu_solution")
    cell.source = "def relu(x):\n    return np.abs(x)  # mark-\ud800-end\n"
    path = submitted(tmp_path, "a-surrogate")
    path.parent.mkdir(parents=True)
    path.write_bytes(json.dumps(nb, ensure_ascii=True).encode())
    add_student(tmp_path, "a-surrogate", make_result("a-surrogate", path, {"relu": None}))
    pages = fb.write_feedback(ASSIGNMENT, tmp_path)
    assert pages.degraded == {}
    html = pages[0].read_bytes().decode("utf-8")
    text = page_text(html)
    assert f"mark-{REPLACEMENT}-end" in text
    # the cell cannot run either (compile() refuses a surrogate): re-running relu for its picture says so
    assert fb.PICTURE_CASE_FAILED.format(reason="FunctionMissing: relu") in text


# ---- one page's failure is that page's --------------------------------------------------------------------------
def test_a_page_whose_pictures_fail_is_drawn_in_part(tmp_path, monkeypatch):
    """If drawing one student's pictures hits a bug, is that page written without them (hidden still hidden)?"""
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the picture code")

    monkeypatch.setattr(fb, "case_pictures", broken)
    nb = write_notebook(submitted(tmp_path, "a-bug"), {"relu_solution": "def relu(x):\n    return np.abs(x)\n"})
    add_student(tmp_path, "a-bug", make_result("a-bug", nb, {"relu": None}, poison_hidden=True))
    pages = fb.write_feedback(ASSIGNMENT, tmp_path)
    assert "RuntimeError: a bug in the picture code" in pages.degraded["a-bug"]
    text = page_text(pages[0].read_text())
    assert fb.PAGE_IN_PART.format(reason="RuntimeError") in text and "relu [matrix]" in text
    assert "a bug in the picture code" not in text
    assert assert_no_hidden_text(tmp_path, ASSIGNMENT) == 3


# ---- no path of the instructor's machine on a student's page ---------------------------------------------------
def test_no_absolute_path_on_a_students_page(tmp_path):
    """An LMS student (no submitted/ folder) whose load error and cell error name course paths: file names only."""
    course = tmp_path / "home" / "instructor" / "my course"
    unzipped = course / "results" / ".unzipped" / "export-1a2b3c" / "lou_layers.ipynb"
    result = make_result("lou", None, {"relu": None})
    extra = result["extra_data"]
    extra["notebook"] = str(unzipped)
    extra["load"] = {"ok": False, "error": f"OSError: cannot read {unzipped}"}
    extra["load"]["cell_errors"] = [{"cell": 3, "type": "FileNotFoundError", "message": f"{course}/data/x.npy"}]
    assert str(course) in json.dumps(result) and " " in str(course)
    add_student(course, "lou", result)
    page, = fb.write_feedback(ASSIGNMENT, course)
    raw = page.read_text()
    for folder in (str(course), str(tmp_path), "/home/instructor", ".unzipped"):
        assert folder not in raw
    text = page_text(raw)
    assert "notebook lou_layers.ipynb" in text and "cannot read lou_layers.ipynb" in text and "x.npy" in text
    assert fb.NOTEBOOK_MISSING.format(notebook="lou_layers.ipynb", student="lou", assignment=ASSIGNMENT) in text


def test_report_draws_case_names_that_look_like_mathtext(tmp_path):
    """A case name "$\\frac{$" (matplotlib would parse it as a formula and fail): the charts are still drawn."""
    for s in ("s1", "s2", "s3"):
        result = make_result(s, None, {"relu": None} if s == "s1" else None)
        result["tests"][0]["name"] = "relu [$\\frac{$]"
        add_student(tmp_path, s, result)
    files = rp.write_report(tmp_path)
    html = files["layers.html"].read_text()
    assert rp.PAGE_FAILED.split("(")[0].strip() not in html
    assert assert_valid_pngs(html) == 2 and "relu [$\\frac{$]" in page_text(html)


def test_a_report_page_that_fails_says_why_and_the_report_goes_on(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the page code")

    monkeypatch.setattr(rp, "_assignment_page", broken)
    add_student(tmp_path, "s1", make_result("s1", None))
    files = rp.write_report(tmp_path)
    failed = rp.PAGE_FAILED.format(reason="RuntimeError: a bug in the page code")
    assert failed in page_text(files["layers.html"].read_text())
    assert failed in page_text(files["index.html"].read_text())
    assert _read_csv(files["grades.csv"])[1][0] == "s1"


def test_a_hidden_case_shows_its_problem_name_and_nothing_the_file_adds(tmp_path):
    """A hidden case's row names the grader's problem (a fixed vocabulary); a forged one is dropped, and the
    case's own output (which could hold anything) is never rendered."""
    honest = submitted(tmp_path, "a-hidden")
    write_notebook(honest)
    result = make_result("a-hidden", honest, {"relu": None})
    hidden = [t for t in result["tests"] if t["extra_data"]["hidden"] and t["extra_data"]["function"] == "relu"]
    hidden[0]["extra_data"]["problem"] = "wrong-dtype"
    hidden[1]["extra_data"]["problem"] = "<script>forged</script>"
    hidden[1]["output"] = "hidden case: failed\nSECRET-OUTPUT-7731"
    add_student(tmp_path, "a-hidden", result)
    text = page_text(fb.write_feedback(ASSIGNMENT, tmp_path)[0].read_text())
    kind = hidden[0]["extra_data"]["kind"]
    assert fb.HIDDEN_PROBLEM_REASON.format(kind=kind, problem="wrong-dtype") in text
    assert "forged" not in text and "SECRET-OUTPUT-7731" not in text
