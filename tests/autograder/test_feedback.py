"""What does a student get back from ``autograder feedback``, and does any hidden case leak into it?

The fast tests use result files built here from the live case table (the grader's schema), real notebooks and the
real sandbox (for the pictures); the slow end-to-end test in test_report.py grades real submissions first.
"""
from __future__ import annotations

import base64
import hashlib
import html.parser
import io
import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import feedback as fb
from autograder.build import SOURCE_ROOT
from autograder.mistakes import MISTAKES
from autograder.student import convkit_check as cc
from autograder.suites import cases_for
from tests.helpers import iter_arrays, student_notebook

ASSIGNMENT = "layers"
SOURCE = SOURCE_ROOT / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
ROOT = Path(__file__).resolve().parents[2]
# Buggy solutions: relu keeps magnitudes (abs), softmax overflows (no max subtraction).
BUGS = {"relu_solution": "def relu(x):\n    return np.abs(x)\n",
        "softmax_solution": "def softmax(z):\n    e = np.exp(z)\n    return e / e.sum(axis=-1, keepdims=True)\n"}
# Which cases the buggy student fails, and the diagnosis the grader would give.
BUGGY_FAILS = {"relu": None, "softmax": {"huge-logits", "huge-negative", "three-axes"}}
# A value printed by a message has 6 significant digits; shorter strings ("1", "0.5") are everywhere in a page.
MIN_VALUE_CHARS = 6
MIN_SOURCE_LINE_CHARS = 25
_DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")


# ---- building a course by hand ---------------------------------------------------------------------------------
def write_notebook(path: Path, replacements: dict[str, str] | None = None, raw: str | None = None) -> Path:
    """The source notebook's solutions, without nbgrader's delimiters as a student's notebook is, with some solution
    cells replaced, or ``raw`` text, at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if raw is not None:
        path.write_text(raw)
        return path
    nb = student_notebook(SOURCE)
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in (replacements or {}):
            cell.source = replacements[gid]
    nbformat.write(nb, str(path))
    return path


def _fails(case, fails) -> bool:
    if case.function not in fails:
        return False
    return fails[case.function] is None or case.case_id in fails[case.function]


def make_result(student: str, notebook: Path | None, fails: dict | None = None, *, poison_hidden: bool = False,
                load_error: str | None = None, assignment: str = ASSIGNMENT) -> dict:
    """A result in the grader's schema: the cases of ``fails`` (function -> None for all, or a set of case ids)
    failed, with softmax_overflow diagnosed on softmax. ``poison_hidden`` puts a hidden case's full message (header,
    input values) in its output, as a careless grader might: the page must still not show it."""
    fails = fails or {}
    tests = []
    for case in cases_for(assignment):
        hidden = case.visibility != "visible"
        failed = load_error is not None or _fails(case, fails)
        kind = "error" if load_error else ("failed" if failed else "passed")
        diagnosis = "softmax_overflow" if failed and case.function == "softmax" and not load_error else None
        header = cc.CASE_HEADER.format(case_id=case.case_id, function=case.function, inputs=cc.describe_inputs(case))
        message = load_error or (header + ("\nresult: values differ" if failed else ""))
        if hidden:
            message = f"hidden case: {kind}"
            if poison_hidden:
                message = "\n".join([header, *_value_strings(case)])
        tests.append({"name": f"{case.function} [{case.case_id}]", "score": 0.0 if failed else case.points,
                      "max_score": case.points, "status": "failed" if failed else "passed", "output": message,
                      "visibility": "after_published" if hidden else "visible",
                      "extra_data": {"function": case.function, "case": case.case_id, "kind": kind,
                                     "diagnosis": diagnosis, "hidden": hidden}})
    sha = hashlib.sha256(notebook.read_bytes()).hexdigest() if notebook else None
    return {"score": sum(t["score"] for t in tests), "max_score": sum(t["max_score"] for t in tests),
            "execution_time": 0.5, "output": load_error or "graded", "visibility": "visible", "tests": tests,
            "extra_data": {"student": student, "assignment": assignment, "notebook": f"{assignment}.ipynb",
                           "submission_sha256": sha, "grader": "test", "timestamp": None,
                           "load": {"ok": load_error is None, "error": load_error}, "cell_scores": {},
                           "sandbox_layers": ["rlimits", "seccomp"], "sandbox_missing": {}, "timed_out": False}}


def add_student(course: Path, student: str, result: dict) -> None:
    path = course / "results" / result["extra_data"]["assignment"] / f"{student}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result))


def submitted(course: Path, student: str, assignment: str = ASSIGNMENT) -> Path:
    return course / "submitted" / student / assignment / f"{assignment}.ipynb"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """ada: every solution; ben: buggy relu and softmax (hidden outputs poisoned); cyd: an unreadable notebook."""
    course = tmp_path_factory.mktemp("fbcourse")
    ada = write_notebook(submitted(course, "ada"))
    add_student(course, "ada", make_result("ada", ada))
    ben = write_notebook(submitted(course, "ben"), BUGS)
    (ben.parent / "timestamp.txt").write_text("2026-11-20 10:00:00.000000 UTC\n")
    (ben.parent / "submission_secret.txt").write_text("secret\n")
    add_student(course, "ben", make_result("ben", ben, BUGGY_FAILS, poison_hidden=True))
    cyd = write_notebook(submitted(course, "cyd"), raw="{not json")
    add_student(course, "cyd", make_result("cyd", cyd, load_error="NotJSONError: Notebook does not appear to be JSON"))
    pages = fb.write_feedback(ASSIGNMENT, course)
    return course, {p.parents[1].name: p for p in pages}


# ---- reading pages -----------------------------------------------------------------------------------------------
class _Text(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts = []

    def handle_data(self, data):
        self.parts.append(data)


def page_text(page: str) -> str:
    """What a reader sees: the text content (pygments' spans joined back into code lines)."""
    parser = _Text()
    parser.feed(page)
    return "".join(parser.parts)


def embedded_pngs(page: str) -> list[bytes]:
    return [base64.b64decode(m.group(0).split(",", 1)[1]) for m in _DATA_URI.finditer(page)]


def assert_valid_pngs(page: str) -> int:
    """Every embedded image decodes to a non-empty PNG; returns how many there are."""
    from PIL import Image

    blobs = embedded_pngs(page)
    for blob in blobs:
        with Image.open(io.BytesIO(blob)) as img:
            img.load()
            assert img.format == "PNG" and img.width > 10 and img.height > 10
            assert np.asarray(img.convert("L")).std() > 1.0, "an embedded picture is one flat colour"
    return len(blobs)


# ---- the leak scan -----------------------------------------------------------------------------------------------
def _value_strings(case) -> set[str]:
    """The input and expected values of ``case`` as the messages print them (6 significant digits)."""
    out = set()
    for arr in iter_arrays((case.args, case.kwargs, case.expected)):
        if arr.dtype.kind == "f":
            out.update(f"{x:.6g}" for x in arr.ravel()[:2000])
    return {s for s in out if len(s) >= MIN_VALUE_CHARS and "." in s}


def forbidden_strings(assignment: str) -> dict[str, str]:
    """Text of hidden cases that no feedback file may contain: headers and values (minus public cases' values)."""
    public = set().union(*(_value_strings(c) for c in cases_for(assignment, "visible")))
    out = {}
    for case in cases_for(assignment, "hidden"):
        out[cc.CASE_HEADER.format(case_id=case.case_id, function=case.function,
                                  inputs=cc.describe_inputs(case))] = case.case_id
        out.update({v: case.case_id for v in _value_strings(case) - public})
    return out


def grader_source_lines() -> set[str]:
    """Lines of the graded suites and the reference long enough to be recognisable."""
    files = [*(ROOT / "autograder" / "suites").glob("*.py"), *(ROOT / "reference").glob("*.py")]
    lines = {ln.strip() for f in files for ln in f.read_text().splitlines()}
    return {ln for ln in lines if len(ln) >= MIN_SOURCE_LINE_CHARS}


def assert_no_hidden_text(course: Path, assignment: str) -> int:
    """No hidden case text and no grader source line (unless the student's own notebook has it) in any file under
    DIR/feedback; returns how many files were scanned."""
    forbidden = forbidden_strings(assignment)
    source_lines = grader_source_lines()
    files = [p for p in (course / "feedback").rglob("*") if p.is_file()]
    for path in files:
        raw = path.read_text(errors="replace")
        scanned = _DATA_URI.sub("", raw)
        text = page_text(raw) if path.suffix == ".html" else raw
        student = path.relative_to(course / "feedback").parts[0]
        own = submitted(course, student, assignment)
        own_text = own.read_text(errors="replace") if own.is_file() else ""
        for needle, case_id in forbidden.items():
            assert needle not in scanned and needle not in text, f"hidden case {case_id} leaks {needle!r} into {path}"
        for line in source_lines:
            if line not in own_text and json.dumps(line)[1:-1] not in own_text:
                assert line not in text and line not in scanned, f"grader source line {line!r} in {path}"
    return len(files)


# ---- tests -------------------------------------------------------------------------------------------------------
def test_pages_land_where_release_feedback_looks(course):
    """Is there feedback/<student>/<assignment>/<assignment>.html per graded student, with the exchange files?"""
    course, pages = course
    assert sorted(pages) == ["ada", "ben", "cyd"]
    for student, page in pages.items():
        assert page == course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html"
    assert (pages["ben"].parent / "timestamp.txt").read_text().startswith("2026-11-20")
    assert (pages["ben"].parent / "submission_secret.txt").is_file()


def test_page_shows_score_every_case_diagnosis_and_code(course):
    """Does the buggy student's page show the score, each case, the mistake explained and their own code?"""
    course, pages = course
    result = json.loads((course / "results" / ASSIGNMENT / "ben.json").read_text())
    text = page_text(pages["ben"].read_text())
    assert f"{result['score']:g}" in text and f"/ {result['max_score']:g} points" in text
    for t in result["tests"]:
        assert t["name"] in text
    assert "softmax_overflow" in text and MISTAKES["softmax_overflow"].explanation in text
    assert "return np.abs(x)" in text
    visible = next(c for c in cases_for(ASSIGNMENT, "visible") if c.function == "relu")
    assert cc.CASE_HEADER.format(case_id=visible.case_id, function="relu", inputs=cc.describe_inputs(visible)) in text
    assert "hidden cases: 0 of" in text


def test_failed_public_array_cases_get_heatmaps_and_hidden_ones_none(course):
    """Does each failed visible array case get a valid picture, and no hidden case any?"""
    course, pages = course
    page = pages["ben"].read_text()
    failed_visible = [c for c in cases_for(ASSIGNMENT, "visible") if c.kind == "array" and _fails(c, BUGGY_FAILS)]
    assert failed_visible
    for c in failed_visible:
        assert f'id="pic-{c.function}-{c.case_id}"' in page
    for c in cases_for(ASSIGNMENT, "hidden"):
        assert f'id="pic-{c.function}-{c.case_id}"' not in page
    assert assert_valid_pngs(page) == len(failed_visible)
    assert not embedded_pngs(pages["ada"].read_text())


def test_no_hidden_case_text_reaches_any_feedback_file(course):
    """Even with hidden messages poisoned in the result file, is no hidden header, value or grader line shown?"""
    course, _ = course
    poisoned = json.loads((course / "results" / ASSIGNMENT / "ben.json").read_text())
    forbidden = forbidden_strings(ASSIGNMENT)
    assert any(needle in t["output"] for t in poisoned["tests"] for needle in forbidden), "the poison is missing"
    assert assert_no_hidden_text(course, ASSIGNMENT) >= 3


def test_unreadable_notebook_still_gets_a_page_saying_why(course):
    """Does a student whose notebook failed to load get a page with the reason and every case at zero?"""
    course, pages = course
    text = page_text(pages["cyd"].read_text())
    assert "Your notebook could not be graded" in text and "NotJSONError" in text
    assert fb.NOTEBOOK_UNREADABLE.split(":")[0] in text
    assert "0 / 45 points" in text


@pytest.mark.parametrize("student, replacements, expected", [
    ("crash-in-call", {"relu_solution": "def relu(x):\n    import os\n    os._exit(3)\n"},
     fb.PICTURE_CASE_FAILED.split("(")[0]),
    ("crash-at-load", {"setup": "import os\nos._exit(3)\n"}, fb.PICTURES_OMITTED.split("(")[0]),
])
def test_submission_crashing_the_sandbox_still_gets_its_page(tmp_path, student, replacements, expected):
    """When re-running the code for pictures kills the worker, is the page written with a note instead?"""
    nb = write_notebook(submitted(tmp_path, student), replacements)
    add_student(tmp_path, student, make_result(student, nb, {"relu": None}))
    page, = fb.write_feedback(ASSIGNMENT, tmp_path)
    text = page_text(page.read_text())
    assert expected.strip() in text
    assert not embedded_pngs(page.read_text())
    assert "relu [matrix]" in text


def test_notebook_changed_after_grading_hides_code_and_pictures(tmp_path):
    """Is a notebook whose hash differs from the graded one neither shown nor re-run?"""
    nb = write_notebook(submitted(tmp_path, "eve"), BUGS)
    add_student(tmp_path, "eve", make_result("eve", nb, BUGGY_FAILS))
    nb.write_text(nb.read_text().replace("np.abs(x)", "np.maximum(x, 0)"))
    page, = fb.write_feedback(ASSIGNMENT, tmp_path)
    text = page_text(page.read_text())
    assert fb.NOTEBOOK_CHANGED in text and "np.maximum(x, 0)" not in text
    assert not embedded_pngs(page.read_text())


def test_student_code_is_escaped(tmp_path):
    """Can a solution cell inject markup into the page? (It must come out as text.)"""
    evil = 'def relu(x):\n    "</pre><script>alert(1)</script><img src=x onerror=alert(2)>"\n    return x\n'
    nb = write_notebook(submitted(tmp_path, "mal"), {"relu_solution": evil})
    add_student(tmp_path, "mal", make_result("mal", nb, {"relu": None}))
    page, = fb.write_feedback(ASSIGNMENT, tmp_path, pictures=False)
    raw = page.read_text()
    assert "<script>" not in raw and "<img src=x" not in raw
    assert "<script>alert(1)</script>" in page_text(raw)


def test_no_results_is_a_clear_error(tmp_path):
    """Does feedback without graded results say what to run?"""
    with pytest.raises(ValueError, match="run `autograder grade layers` first"):
        fb.write_feedback(ASSIGNMENT, tmp_path)


def test_cli_feedback_verb(tmp_path):
    """Does `autograder feedback ASSIGNMENT --course DIR` write the pages and say where?"""
    from click.testing import CliRunner

    from autograder.cli import main

    nb = write_notebook(submitted(tmp_path, "ada"))
    add_student(tmp_path, "ada", make_result("ada", nb))
    run = CliRunner().invoke(main, ["feedback", ASSIGNMENT, "--course", str(tmp_path)])
    assert run.exit_code == 0, run.output
    assert "1 feedback pages" in run.output
    assert (tmp_path / "feedback" / "ada" / ASSIGNMENT / f"{ASSIGNMENT}.html").is_file()
    missing = CliRunner().invoke(main, ["feedback", "cnn", "--course", str(tmp_path)])
    assert missing.exit_code != 0 and "autograder grade cnn" in missing.output


def test_an_empty_answer_gets_a_picture_without_warnings():
    """Does an output that came out empty (size off by one) draw as 'empty array' rather than a singular plot?"""
    import warnings

    from autograder.plots import heatmaps

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        uri = heatmaps(np.ones((1, 1, 3, 3)), np.ones((1, 1, 0, 3)), "conv2d_forward")
    assert uri.startswith("data:image/png;base64,")
