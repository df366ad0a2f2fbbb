"""Does `make demo` (python -m autograder.demo) run the whole loop and leave what it says it leaves?"""
from __future__ import annotations

import json

import pytest

from autograder.demo import run_demo
from autograder.suites import ASSIGNMENTS


@pytest.mark.slow
def test_the_demo_builds_grades_and_reports_a_small_class(tmp_path, capsys):
    """A class of 6 through build, grading, feedback and report: is every promised file there, and graded?"""
    course = tmp_path / "demo"
    out = run_demo(course, n_students=6, workers=2)
    printed = capsys.readouterr().out
    for line in ("the class report:", "a student's feedback:", "grades for the LMS:", "sandbox layers in force"):
        assert line in printed
    assert out["report"].is_file() and (course / "reports" / "grades.csv").is_file()
    assert (course / "showcase" / "kernels_gallery.png").stat().st_size > 10_000
    for name in ASSIGNMENTS:
        summary = out["summaries"][name]
        assert len(summary.graded) == 6 and not summary.errors, (name, summary.errors)
        results = [json.loads(p.read_text()) for p in (course / "results" / name).glob("*.json")]
        scores = sorted(r["score"] for r in results)
        assert scores[-1] == results[0]["max_score"], (name, scores)  # the complete submission earns every point
        assert scores[0] < results[0]["max_score"]  # and the class is not uniform
        assert len(list((course / "feedback").glob(f"*/{name}/{name}.html"))) == 6
    rows = (course / "reports" / "grades.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 6
