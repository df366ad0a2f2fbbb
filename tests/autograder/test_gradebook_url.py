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


SECRET = "p@ss:w/rd"  # characters a URL must percent-encode
SECRET_URL = "postgresql+psycopg://ta:p%40ss%3Aw%2Frd@db.example.org:6543/convkit"


def test_a_gradebook_url_is_shown_without_its_password():
    """Do masked_url and scrub hide the password, as given and percent-encoded, wherever a message echoes it?"""
    from autograder.gradebook import masked_url, scrub

    assert masked_url(SECRET_URL) == "postgresql+psycopg://ta:***@db.example.org:6543/convkit"
    message = scrub(f"failed for {SECRET_URL} with password {SECRET} (p%40ss%3Aw%2Frd)", SECRET_URL)
    assert SECRET not in message and "p%40ss" not in message and "ta:***@db.example.org" in message
    assert masked_url("sqlite:////tmp/gradebook.db") == "sqlite:////tmp/gradebook.db"
    assert masked_url("garbage:hunter2") == "***"  # unparseable: where a password would be cannot be known


@pytest.mark.parametrize(("url", "message"), [
    ("not a url", "BAD_URL"),
    ("postgresql+nodriver://ta:hunter2@localhost/convkit", "NO_DRIVER"),
])
def test_a_gradebook_url_that_cannot_work_is_named_before_anything_runs(url, message):
    """Is a URL that does not parse, or names a driver that is not installed, a GradebookURLError (a ValueError, as
    the CLI reports it) with the message's text and without the password?"""
    from autograder import gradebook

    with pytest.raises(gradebook.GradebookURLError) as caught:
        gradebook.check_url(url)
    assert isinstance(caught.value, ValueError) and "hunter2" not in str(caught.value)
    template = getattr(gradebook, message)
    assert template.split("{url")[0] in str(caught.value)


def test_a_course_whose_url_has_a_password_keeps_it_to_its_owner(tmp_path):
    """Is nbgrader_config.py mode 0600 when the URL has a password (0644 without), and no Course repr shows it?"""
    import stat

    from autograder.course import Course

    course = Course.open(tmp_path / "secret", db_url=SECRET_URL)
    path = course.write_config()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and SECRET_URL in path.read_text()
    assert "p%40ss" not in repr(course)
    assert Course.open(tmp_path / "secret").db_url == SECRET_URL  # read back as nbgrader reads it
    plain = Course.open(tmp_path / "plain", db_url="postgresql+psycopg://ta@db.example.org/convkit").write_config()
    assert stat.S_IMODE(plain.stat().st_mode) == 0o644
