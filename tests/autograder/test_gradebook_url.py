"""Does --db put the gradebook wherever a SQLAlchemy URL says: given once to build, recorded in the course's
nbgrader_config.py, and found there by grade, report and nbgrader's own export?"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.suites import points_by_function
from tests.helpers import student_notebook

BIN = Path(sys.executable).parent


def _cli(*args, cwd):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([str(BIN / "autograder"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc


@pytest.mark.slow
def test_build_grade_and_export_use_the_gradebook_at_the_url(tmp_path):
    """With `build --db sqlite:///elsewhere/grades.db`: is the course's default gradebook left uncreated, do the
    trusted scores of a `grade` without --db land at the URL, and do `report` and `nbgrader export` (configured by
    build) read them from there?"""
    url = f"sqlite:///{tmp_path / 'elsewhere' / 'grades.db'}"
    (tmp_path / "elsewhere").mkdir()
    course = tmp_path / "course"
    _cli("build", "layers", "--course", str(course), "--db", url, cwd=tmp_path)
    solved = tmp_path / "in" / "ada_layers.ipynb"
    solved.parent.mkdir()
    nbformat.write(student_notebook(course / "source" / "layers" / "layers.ipynb"), str(solved))
    shutil.copy(course / "release" / "layers" / "layers.ipynb", tmp_path / "in" / "bo_layers.ipynb")
    _cli("grade", "layers", str(tmp_path / "in"), "--course", str(course), cwd=tmp_path)
    assert not (course / "gradebook.db").exists()

    from nbgrader.api import Gradebook

    with Gradebook(url, course_id="convkit") as gb:
        scores = {s.student.id: s.score for s in gb.assignment_submissions("layers")}
    assert scores == {"ada": sum(points_by_function("layers").values()), "bo": 0.0}
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run([str(BIN / "nbgrader"), "export"], cwd=course, env=env, check=True, capture_output=True,
                   timeout=120)
    total = float(sum(points_by_function("layers").values()))
    assert f"layers,,,ada,,,,{total}" in (course / "grades.csv").read_text()
    _cli("report", "--course", str(course), cwd=tmp_path)
    page = (course / "reports" / "layers.html").read_text()
    assert "lateness unknown" not in page and "could not be read" not in page
    assert not (course / "gradebook.db").exists()
