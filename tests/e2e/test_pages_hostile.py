"""Does one hostile submission cost only its own page, and does no page show the instructor's folders?

Real course (nbgrader build of layers and backprop), real notebooks graded by the real grader (``grade_batch``),
then the real ``write_feedback`` and ``write_report``. The hostile students sort before an honest one, so a run
that stops at the first bad page would leave the honest student without a page. Slow (a build and three graded
batches); tests/autograder/test_pages_safety.py makes the same attacks fast, on result files built by hand.
"""
from __future__ import annotations

import csv
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest

from autograder.safe_read import NOT_A_NOTEBOOK
from autograder import feedback as fb
from autograder import report as rp
from autograder.safe_text import REPLACEMENT
from autograder.suites import cases_for
from tests.support.submissions_factory import BATCH_LIMITS, honest_body, honest_notebook, replace_body, write_submission
from tests.autograder.test_feedback import assert_no_hidden_text, assert_valid_pngs, page_text

# {"nbformat": "\ud800", "cells": []}: 35 bytes of valid JSON whose only string no UTF-8 page can hold
TINY_NOTEBOOK = b'{"nbformat": "\\ud800", "cells": []}'
EMPTY_RELU = "return np.zeros((0,) + np.shape(x)[1:])"        # an output whose leading axis came out empty
SURROGATE_MARK = "marker-\ud800-end"                              # in a solution cell's JSON, as "\ud800"
LAYERS_STUDENTS = ["a-empty", "b-surrogate", "c-tiny", "z-honest"]
LOOSE_STUDENTS = ["lou", "zed"]                                    # an LMS export: a loose notebook and a zip
_DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")

pytestmark = pytest.mark.slow


def _surrogate_notebook(course: Path) -> bytes:
    nb = honest_notebook(course, "layers")
    replace_body(nb, "relu", f"return np.maximum(x, 0)  # {SURROGATE_MARK}")
    raw = json.dumps(nb, ensure_ascii=True).encode()  # the escape "\ud800" is valid JSON; the character is not UTF-8
    assert b"\\ud800" in raw
    return raw


def _only_dx_notebook(course: Path):
    """An honest slip: conv2d_backward returns dx alone where (dx, dw, db) is expected."""
    nb = honest_notebook(course, "backprop")
    body = honest_body("conv2d_backward", "backprop")
    assert "return dx, dw, db" in body
    return replace_body(nb, "conv2d_backward", body.replace("return dx, dw, db", "return dx"))


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The course after grading, feedback and report: (course, loose folder, {assignment: FeedbackPages})."""
    import nbformat

    from autograder.build import build_course
    from autograder.grade import grade_batch

    course = tmp_path_factory.mktemp("hostile-pages") / "course"
    build_course(course, ["layers", "backprop"])
    nb = honest_notebook(course, "layers")
    write_submission(course, "a-empty", replace_body(nb, "relu", EMPTY_RELU), "layers")
    write_submission(course, "b-surrogate", _surrogate_notebook(course), "layers")
    write_submission(course, "c-tiny", TINY_NOTEBOOK, "layers")
    write_submission(course, "z-honest", honest_notebook(course, "layers"), "layers")
    write_submission(course, "a-only-dx", _only_dx_notebook(course), "backprop")
    write_submission(course, "z-honest", honest_notebook(course, "backprop"), "backprop")
    loose = course.parent / "lms-export"
    loose.mkdir()
    buggy = replace_body(honest_notebook(course, "layers"), "relu", "return np.abs(x)")
    (loose / "lou_layers.ipynb").write_text(nbformat.writes(buggy))
    with zipfile.ZipFile(loose / "export.zip", "w") as zf:
        zf.writestr("zed_layers.ipynb", TINY_NOTEBOOK)
    for assignment, paths in (("layers", []), ("layers", [loose / "lou_layers.ipynb", loose / "export.zip"]),
                              ("backprop", [])):
        summary = grade_batch(assignment, paths, course, workers=2, progress=False, limits=BATCH_LIMITS)
        assert not summary.errors, summary.errors
    pages = {a: fb.write_feedback(a, course) for a in ("layers", "backprop")}
    return course, loose, pages


def _page(course: Path, student: str, assignment: str = "layers") -> str:
    return fb.feedback_path(course, assignment, student).read_text(encoding="utf-8")


def test_every_student_gets_a_page_and_the_exchange_files(graded):
    """After an empty answer, a lone surrogate and a 35-byte notebook, do all pages (the honest one last) exist,
    each with timestamp.txt and submission_secret.txt for nbgrader's release_feedback?"""
    course, _, pages = graded
    assert sorted(p.parents[1].name for p in pages["layers"]) == sorted(LAYERS_STUDENTS + LOOSE_STUDENTS)
    assert sorted(p.parents[1].name for p in pages["backprop"]) == ["a-only-dx", "z-honest"]
    for written in pages.values():
        assert written.degraded == {}, written.degraded  # each of these is drawn fully
        for page in written:
            assert (page.parent / "timestamp.txt").read_text().strip()
            assert (page.parent / "submission_secret.txt").read_text().strip()
    honest = page_text(_page(course, "z-honest"))
    assert "45 / 45 points" in " ".join(honest.split())


def test_an_empty_answer_is_drawn_as_empty(graded):
    """Does relu's answer with an empty leading axis get its pictures (an 'empty array' panel), not a crash?"""
    course, _, _ = graded
    html = _page(course, "a-empty")
    assert assert_valid_pngs(html) >= 1
    assert "return np.zeros((0,) + np.shape(x)[1:])" in page_text(html)


def test_a_lone_surrogate_in_a_cell_is_replaced_on_the_page(graded):
    """Is the solution cell with "\\ud800" shown, the surrogate as U+FFFD, on a page that is valid UTF-8?"""
    course, _, _ = graded
    raw = fb.feedback_path(course, "layers", "b-surrogate").read_bytes()
    text = page_text(raw.decode("utf-8"))  # strict: a lone surrogate could not have been written
    assert SURROGATE_MARK.replace("\ud800", REPLACEMENT) in text


def test_the_35_byte_notebook_gets_a_page_saying_why(graded):
    """Does the notebook whose nbformat is "\\ud800" get a page with the load failure, every case at zero?"""
    course, _, _ = graded
    result = json.loads((course / "results" / "layers" / "c-tiny.json").read_text())
    assert result["score"] == 0.0 and not result["extra_data"]["load"]["ok"]
    text = page_text(_page(course, "c-tiny"))
    assert "Your notebook could not be graded" in text and NOT_A_NOTEBOOK in text
    assert f"0 / {result['max_score']:g} points" in " ".join(text.split())
    assert "\ud800" not in text and REPLACEMENT in text


def test_a_missing_output_tuple_gets_a_note_not_a_crash(graded):
    """conv2d_backward returning dx alone: does each failed public case say why it has no picture?"""
    course, _, _ = graded
    text = page_text(_page(course, "a-only-dx", "backprop"))
    note = fb.PICTURE_NOT_OUTPUTS.format(expected=3, got="one ndarray")
    public = [c for c in cases_for("backprop", "visible") if c.function == "conv2d_backward" and c.kind == "array"]
    assert public and text.count(note) == len(public)
    assert "return dx\n" in text


def test_no_page_shows_a_path_of_the_instructors_machine(graded, tmp_path_factory):
    """Do the pages of an LMS export (loose notebook, zip) name the notebook by its file name only?"""
    course, loose, _ = graded
    base = str(tmp_path_factory.getbasetemp())
    folders = {str(course), str(course.resolve()), str(loose), base, str(Path(base).resolve())}
    for path in (course / "feedback").rglob("*"):
        if path.is_file():
            raw = _DATA_URI.sub("", path.read_text(encoding="utf-8"))
            for folder in folders:
                assert folder not in raw, f"{folder} in {path}"
    lou = page_text(_page(course, "lou"))
    assert fb.NOTEBOOK_MISSING.format(notebook="lou_layers.ipynb", student="lou", assignment="layers") in lou
    zed = page_text(_page(course, "zed"))
    assert "zed_layers.ipynb" in zed and NOT_A_NOTEBOOK in zed


def test_hidden_cases_stay_hidden_on_hostile_pages(graded, tmp_path):
    """Is no hidden case's header or value, and no grader source line, on any layers page or file beside it?"""
    course, _, _ = graded
    view = tmp_path / "layers-only"  # the scan reads every file under feedback/: the layers ones alone
    for part in ("feedback", "submitted"):
        for folder in (course / part).glob("*/layers"):
            shutil.copytree(folder, view / part / folder.parent.name / "layers")
    assert assert_no_hidden_text(view, "layers") == 3 * len(LAYERS_STUDENTS + LOOSE_STUDENTS)


def test_report_is_written_for_the_hostile_class(graded):
    """Does `autograder report` go through the 35-byte notebook's result and list it, in valid UTF-8?"""
    course, _, _ = graded
    files = rp.write_report(course)
    text = page_text(files["layers.html"].read_bytes().decode("utf-8"))
    assert "c-tiny" in text and "zed" in text and f"failed to load: {NOT_A_NOTEBOOK}" in " ".join(text.split())
    assert "\ud800" not in text
    with open(files["grades.csv"], newline="", encoding="utf-8") as fh:
        grades = {r[rp.GRADES_ID_HEADER]: r for r in csv.DictReader(fh)}
    assert grades["c-tiny"][rp.TOTAL_HEADER] == "0" and grades["z-honest"][rp.TOTAL_HEADER] == "100"
