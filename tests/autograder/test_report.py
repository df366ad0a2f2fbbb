"""What does the class report say about a class, and are its CSV files ready for an LMS?

Fast tests: result files built by hand (tests/autograder/test_feedback.py's ``make_result``); the slow test builds a
course, grades real submissions, and runs feedback and report on them.
"""
from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from autograder import report as rp
from autograder.mistakes import MISTAKES
from tests.autograder.test_feedback import (ASSIGNMENT, BUGS, add_student, assert_no_hidden_text, assert_valid_pngs,
                                        make_result, page_text, submitted, write_notebook)

CLOSE = 1e-12


def _r_by_formula(passed, scores) -> float:
    """The point-biserial coefficient from its textbook formula (M1 - M0) / s * sqrt(p q), s the population SD."""
    passed, scores = np.asarray(passed, bool), np.asarray(scores, float)
    p = passed.mean()
    return (scores[passed].mean() - scores[~passed].mean()) / scores.std() * np.sqrt(p * (1 - p))


@pytest.mark.parametrize("passed, scores", [
    ([1, 1, 0, 0], [4.0, 3.0, 2.0, 1.0]),
    ([1, 0, 1, 0, 1], [10.0, 2.0, 3.0, 9.0, 5.5]),
    ([0, 0, 1], [5.0, 1.0, 0.0]),
])
def test_point_biserial_matches_the_textbook_formula(passed, scores):
    """Is the discrimination the point-biserial r, sign included?"""
    assert abs(rp.point_biserial(passed, scores) - _r_by_formula(passed, scores)) < CLOSE


@pytest.mark.parametrize("passed, scores", [([1, 1, 1], [1.0, 2.0, 3.0]), ([1, 0, 1], [2.0, 2.0, 2.0]),
                                            ([1, 0], [1.0, 0.0])])
def test_point_biserial_is_undefined_for_constant_or_tiny_classes(passed, scores):
    """Is there no number when everyone passed, all scores are equal, or there are fewer than three students?"""
    assert rp.point_biserial(passed, scores) is None


def test_point_biserial_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match=r"shapes \(3,\) and \(2,\)"):
        rp.point_biserial([1, 0, 1], [1.0, 2.0])


def _timed_out(result: dict, function: str) -> dict:
    for t in result["tests"]:
        if t["extra_data"]["function"] == function:
            t["extra_data"]["kind"], t["status"], t["score"] = "timeout", "failed", 0.0
    result["score"] = sum(t["score"] for t in result["tests"])
    result["extra_data"]["timed_out"] = True
    return result


def _diagnose(result: dict, function: str, name: str) -> dict:
    for t in result["tests"]:
        if t["extra_data"]["function"] == function:
            t["extra_data"]["diagnosis"], t["status"], t["score"] = name, "failed", 0.0
    result["score"] = sum(t["score"] for t in result["tests"])
    return result


@pytest.fixture
def klass(tmp_path):
    """Five students of layers (and two of them in a second assignment folder, 'convolution')."""
    results = {
        "s1": make_result("s1", None),
        "s2": _diagnose(make_result("s2", None, {"relu": None}), "dense_forward", "missing_bias"),
        "s3": _diagnose(make_result("s3", None, {"relu": None, "softmax": {"huge-logits", "huge-negative"}}),
                        "dense_forward", "missing_bias"),
        "s4": make_result("s4", None, load_error="NotJSONError: not a notebook"),
        "s5": _timed_out(make_result("s5", None), "max_pool2d"),
    }
    for s, r in results.items():
        add_student(tmp_path, s, r)
    for s in ("s1", "s2"):
        other = json.loads(json.dumps(results[s]))
        other["extra_data"]["assignment"] = "convolution"
        add_student(tmp_path, s, other)
    return tmp_path, results


def test_case_statistics_pass_rate_and_corrected_discrimination(klass):
    """Is each case's pass rate the share of students passing it, and its discrimination r against the rest score?"""
    course, results = klass
    stats = {c["name"]: c for c in rp.case_statistics(rp.load_results(course)["layers"])}
    assert len(stats) == len(results["s1"]["tests"])
    for name, row in stats.items():
        outcome = {s: next(t for t in r["tests"] if t["name"] == name) for s, r in results.items()}
        passed = [outcome[s]["status"] == "passed" for s in sorted(results)]
        rest = [results[s]["score"] - outcome[s]["score"] for s in sorted(results)]
        assert row["pass_rate"] == pytest.approx(sum(passed) / len(passed))
        if len(set(passed)) == 1 or len(set(rest)) == 1:
            assert row["discrimination"] is None
        else:
            assert row["discrimination"] == pytest.approx(_r_by_formula(passed, rest))
    assert stats["relu [matrix]"]["pass_rate"] == pytest.approx(0.4) and stats["relu [matrix]"]["hidden"]


def test_misconceptions_are_ranked_by_students_with_explanations(klass):
    """Does the mistake two students made come before the one one student made, with its explanation?"""
    course, _ = klass
    ranked = rp.diagnosis_counts(rp.load_results(course)["layers"])
    assert [(d["name"], d["students"]) for d in ranked] == [("missing_bias", 2), ("softmax_overflow", 1)]
    assert ranked[1]["cases"] == 2
    assert ranked[0]["explanation"] == MISTAKES["missing_bias"].explanation


def test_grades_csv_is_an_lms_import(klass):
    """One row per student: 'Student ID', '<assignment> (<max>)' in course order, 'Total'; blank when missing?"""
    course, results = klass
    rp.write_report(course)
    with open(course / "reports" / "grades.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    top = f"{results['s1']['max_score']:g}"
    assert rows[0] == [rp.GRADES_ID_HEADER, f"convolution ({top})", f"layers ({top})", rp.TOTAL_HEADER]
    table = {r[0]: r[1:] for r in rows[1:]}
    assert sorted(table) == sorted(results)
    s2 = results["s2"]["score"]
    assert table["s2"] == [f"{s2:g}", f"{s2:g}", f"{2 * s2:g}"]
    assert table["s3"] == ["", f"{results['s3']['score']:g}", f"{results['s3']['score']:g}"]


def test_cases_csv_has_one_row_per_student_and_case(klass):
    course, results = klass
    rp.write_report(course)
    with open(course / "reports" / "cases.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == rp.CASES_HEADER
    n_cases = len(results["s1"]["tests"])
    assert len(rows) == n_cases * (len(results) + 2)
    row = next(r for r in rows if r["student"] == "s3" and r["case"] == "huge-logits")
    assert (row["assignment"], row["function"], row["visibility"], row["status"], row["diagnosis"]) == (
        "layers", "softmax", "visible", "failed", "softmax_overflow")
    assert {r["kind"] for r in rows if r["student"] == "s5" and r["function"] == "max_pool2d"} == {"timeout"}


def test_pages_show_pictures_problems_layers_and_the_discrimination_rule(klass):
    """Does the assignment page carry valid pictures, the load failure, the timeout, the layers and the rule?"""
    course, _ = klass
    files = rp.write_report(course)
    assert {"index.html", "layers.html", "convolution.html", "grades.csv", "cases.csv"} <= set(files)
    page = (course / "reports" / "layers.html").read_text()
    assert assert_valid_pngs(page) == 3  # histogram, pass rates, misconceptions
    text = page_text(page)
    assert "s4" in text and "failed to load: NotJSONError" in text
    assert "timed out on max_pool2d" in text
    assert "seccomp" in text and "rlimits" in text
    assert rp.DISCRIMINATION_NOTE in text
    assert MISTAKES["missing_bias"].explanation in text
    assert "no gradebook" in text
    index = (course / "reports" / "index.html").read_text()
    assert assert_valid_pngs(index) == 1
    assert 'href="layers.html"' in index and 'href="convolution.html"' in index and "5 students" in page_text(index)


# nbgrader 0.9.6's add_submission trips SQLAlchemy 2's autoflush warnings (as in autograder/gradebook.py)
@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")
def test_late_submissions_come_from_nbgrader_gradebook(tmp_path):
    """Is a submission after the due date listed with how late it was, and an on-time one not?"""
    from nbgrader.api import Gradebook

    from autograder.course import tools_on_path

    for s in ("early", "late"):
        add_student(tmp_path, s, make_result(s, None))
    with tools_on_path(), Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}", course_id="convkit") as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate="2026-11-20 12:00:00 UTC")
        for s, stamp in (("early", "2026-11-20 11:00:00 UTC"), ("late", "2026-11-21 15:30:00 UTC")):
            gb.update_or_create_student(s)
            gb.update_or_create_submission(ASSIGNMENT, s, timestamp=stamp)
    late, note = rp.late_submissions(tmp_path, [ASSIGNMENT])
    assert note is None
    assert [(r["student"], r["late"]) for r in late[ASSIGNMENT]] == [("late", "1 d 3 h 30 min")]
    rp.write_report(tmp_path)
    text = page_text((tmp_path / "reports" / "layers.html").read_text())
    assert "1 d 3 h 30 min" in text and "2026-11-21 15:30:00 UTC" in text


def test_no_results_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="run `autograder grade ASSIGNMENT` first"):
        rp.write_report(tmp_path)


def test_cli_report_verb(klass):
    """Does `autograder report --course DIR` write the report and print where?"""
    from click.testing import CliRunner

    from autograder.cli import main

    course, _ = klass
    run = CliRunner().invoke(main, ["report", "--course", str(course)])
    assert run.exit_code == 0, run.output
    assert str(course / "reports" / "index.html") in run.output and "grades.csv" in run.output


# ---- end to end --------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_grade_then_feedback_then_report_on_a_real_course(tmp_path):
    """Build, submit (full marks, the stub, a buggy one, a broken file), grade, then feedback and report."""
    from nbgrader.api import Gradebook

    from autograder.build import build_course
    from autograder.feedback import write_feedback
    from autograder.grade import grade_batch
    from autograder.student.convkit_check import STUB_MESSAGE

    course = tmp_path / "course"
    build_course(course, [ASSIGNMENT])
    write_notebook(submitted(course, "full"))
    stub = submitted(course, "stub")
    stub.parent.mkdir(parents=True)
    shutil.copy2(course / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", stub)
    buggy = write_notebook(submitted(course, "buggy"), BUGS)
    (buggy.parent / "timestamp.txt").write_text("2026-11-22 09:00:00.000000 UTC\n")
    write_notebook(submitted(course, "broken"), raw="{not json")
    summary = grade_batch(ASSIGNMENT, [], course, workers=2, progress=False)
    assert sorted(summary.graded) == ["broken", "buggy", "full", "stub"] and not summary.errors
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="convkit") as gb:
        gb.update_or_create_assignment(ASSIGNMENT, duedate="2026-11-21 12:00:00 UTC")

    pages = {p.parents[1].name: p for p in write_feedback(ASSIGNMENT, course)}
    assert sorted(pages) == ["broken", "buggy", "full", "stub"]
    full = page_text(pages["full"].read_text())
    assert "45 / 45 points" in full.replace("\n", " ").replace("  ", " ")
    assert STUB_MESSAGE.format(function="relu") in page_text(pages["stub"].read_text())
    buggy_page = pages["buggy"].read_text()
    assert "softmax_overflow" in buggy_page and MISTAKES["softmax_overflow"].explanation in page_text(buggy_page)
    assert assert_valid_pngs(buggy_page) >= 2  # relu's public cases and softmax [huge-logits]
    assert "Your notebook could not be graded" in page_text(pages["broken"].read_text())
    assert assert_no_hidden_text(course, ASSIGNMENT) >= 4

    files = rp.write_report(course)
    text = page_text(files["layers.html"].read_text())
    assert "softmax_overflow" in text and "broken" in text and "failed to load" in text
    assert "buggy" in text and "2026-11-22 09:00:00 UTC" in text  # late, as the gradebook has it
    assert "bubblewrap" in text or "rlimits" in text
    with open(files["grades.csv"], newline="") as fh:
        grades = {r[rp.GRADES_ID_HEADER]: r for r in csv.DictReader(fh)}
    assert grades["full"][rp.TOTAL_HEADER] == "45" and grades["broken"][rp.TOTAL_HEADER] == "0"
    assert float(grades["buggy"][rp.TOTAL_HEADER]) == json.loads(
        (course / "results" / ASSIGNMENT / "buggy.json").read_text())["score"]
