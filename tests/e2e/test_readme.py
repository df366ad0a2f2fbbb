"""Does every command in the README work as written?

The student's and the instructor's blocks are run line by line, in order, in a temporary folder (``python``,
``autograder`` and ``nbgrader`` are this environment's). Between the instructor's ``release_assignment`` and
``collect`` a student fetches and submits through nbgrader's real exchange; that step is the student's, not the
README's. ``make demo`` and ``make test`` are covered where they run: the demo by tests/e2e/test_demo.py through the
module the Makefile target calls, the tests by CI's ``.ci/run``.
"""
from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.suites import points_by_function
from tests.helpers import student_notebook

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
BIN = Path(sys.executable).parent
SOURCE = ROOT / "assignments" / "source" / "convolution" / "convolution.ipynb"


def _blocks() -> list[list[str]]:
    return [[line for line in block.strip().splitlines() if line.strip()]
            for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S)]


def _command(line: str) -> str:
    return line.split("  #")[0].strip()


def _env() -> dict:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "OPENBLAS_NUM_THREADS": "1"}


def _run(line: str, cwd: Path, expect_ok: bool = True) -> subprocess.CompletedProcess:
    """Run one README line (``cd`` and ``&&`` chains included) in bash from ``cwd``."""
    # PATH starts with this environment's bin folder, so `python`, `autograder` and `nbgrader` are ours.
    proc = subprocess.run(["bash", "-c", line], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=600)
    if expect_ok:
        assert proc.returncode == 0, f"`{line}` failed in {cwd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_readme_has_exactly_the_five_blocks_the_tests_run():
    """Is every bash block of the README one that a test below (or CI, or test_readme_cluster.py) runs?"""
    blocks = _blocks()
    assert [_command(line) for line in blocks[0]] == ["make demo", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^demo:.*\n\t.*-m autograder\.demo", (ROOT / "Makefile").read_text(), flags=re.M)
    assert blocks[1][0] == "cd convolution" and len(blocks) == 5
    assert all(block[0].startswith("dask scheduler") for block in blocks[3:])  # test_readme_cluster.py


@pytest.mark.slow
def test_the_instructors_loop_and_the_students_start_run_as_written(tmp_path):
    """Init, build, release through nbgrader's exchange, a student's self-check, collect, grade (folder and LMS zip),
    feedback and its release, report, export: does each README line succeed and leave what it promises?"""
    student_block, instructor_block = _blocks()[1], _blocks()[2]
    work = tmp_path / "work"
    work.mkdir()
    lines = iter(instructor_block)

    _run(next(lines), work)  # autograder init course
    assert (work / "course" / "source" / "convolution" / "convolution.ipynb").is_file()
    _run(next(lines), work)  # autograder build --course course --exchange exchange
    assert (work / "course" / "release" / "convolution" / "convolution.ipynb").is_file()
    _run(next(lines), work)  # nbgrader release_assignment
    assert (work / "exchange" / "convkit" / "outbound" / "convolution").is_dir()

    # The student: fetch through the exchange, run the README's five-minute start in the fetched folder, submit.
    home = tmp_path / "student"
    home.mkdir()
    (home / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.Exchange.root = {str(work / 'exchange')!r}\nc.CourseDirectory.course_id = 'convkit'\n")
    _run("nbgrader fetch_assignment convolution", home)
    assert _command(student_block[0]) == "cd convolution"
    folder = home / "convolution"
    for line in student_block[1:]:
        self_check = "-m pytest" in line
        proc = _run(_command(line), folder, expect_ok=not self_check)
        if self_check:  # the stubs fail, and the report says so and mentions the hidden cases
            assert proc.returncode == 1, proc.stdout[-2000:]
            assert "hidden cases are graded too" in proc.stdout
            assert "not implemented yet" in proc.stdout
    solved = nbformat.writes(student_notebook(SOURCE))
    (folder / "convolution.ipynb").write_text(solved)  # the student solves everything
    proc = _run("python -m pytest -q", folder)
    assert "hidden cases are graded too" in proc.stdout
    _run("nbgrader submit convolution", home)

    _run(next(lines), work)  # nbgrader collect
    student = os.environ.get("USER") or __import__("getpass").getuser()
    assert (work / "course" / "submitted" / student / "convolution" / "convolution.ipynb").is_file()
    proc = _run(next(lines), work)  # autograder grade convolution --course course
    full = sum(points_by_function("convolution").values())
    assert "1 graded" in proc.stdout and f"mean score {full:.1f} / {full:g}" in proc.stdout
    with zipfile.ZipFile(work / "submissions.zip", "w") as zf:
        zf.writestr("lms_student_convolution.ipynb", solved)
    proc = _run(next(lines), work)  # autograder grade convolution submissions.zip --course course
    assert "1 graded" in proc.stdout and f"mean score {full:.1f} / {full:g}" in proc.stdout
    assert (work / "course" / "results" / "convolution" / "lms_student.json").is_file()
    _run(next(lines), work)  # autograder feedback
    assert (work / "course" / "feedback" / student / "convolution" / "convolution.html").is_file()
    _run(next(lines), work)  # nbgrader release_feedback
    assert list((work / "exchange" / "convkit" / "feedback").rglob("*.html"))
    _run(next(lines), work)  # autograder report
    for name in ("index.html", "convolution.html", "grades.csv", "cases.csv"):
        assert (work / "course" / "reports" / name).is_file(), name
    _run(next(lines), work)  # nbgrader export
    with open(work / "course" / "grades.csv", newline="") as fh:  # nbgrader's own export of the gradebook
        rows = {row["student_id"]: row for row in csv.DictReader(fh) if row["assignment"] == "convolution"}
    # The score arrived: both students (the exchange's and the LMS zip's) at full marks, out of the total.
    assert set(rows) == {student, "lms_student"}
    for row in rows.values():
        assert float(row["score"]) == float(row["max_score"]) == full, row
    _run(next(lines), work)  # autograder export gradescope
    assert zipfile.is_zipfile(work / "gradescope-convolution.zip")
    assert next(lines, None) is None, "a README line this test does not run"
