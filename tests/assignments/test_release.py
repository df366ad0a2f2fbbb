"""The releases `autograder build` makes: exactly the student files, stubs whose checks fail with the stub message,
and a self-check (`pytest` in the folder, run as a student) that fails on stubs and passes once solved."""
from __future__ import annotations

import json

import nbformat
import pytest

from assignments.authoring import nb
from autograder.build import BuildError, build_course, STUDENT_DIR
from autograder.student.convkit_check import STUB_MESSAGE, SUMMARY_MESSAGE
from tests.assignments._course import (ASSIGNMENTS, built_course, copy_release, execute, source_notebook,
                                       student_pytest, student_python)

pytestmark = pytest.mark.slow

_STUDENT_FILES = {p.relative_to(STUDENT_DIR).as_posix() for p in STUDENT_DIR.rglob("*") if p.is_file()
                  and p.name != "__init__.py" and "__pycache__" not in p.parts} | {"convkit_check/__init__.py"}
_FROZEN = {"public_cases.json", "public_cases.npz"}
# Data an assignment ships beside its notebook (written by its Assignment.release_files).
_EXTRA_FILES = {"cnn": {"digits_train.npz"}}


@pytest.fixture(scope="session")
def course(tmp_path_factory):
    return built_course(tmp_path_factory)


def _check_cells(book):
    return [(c.metadata["nbgrader"]["grade_id"][:-len("_check")], c) for c in book.cells
            if c.metadata.get("nbgrader", {}).get("grade")]


def _filled(release, name):
    book = nb.fill_solutions(release / f"{name}.ipynb", source_notebook(name))
    nbformat.write(book, release / f"{name}.ipynb")
    return book


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_holds_only_the_student_files(course, name):
    """Does the release hold the notebook, the frozen public cases and the self-check files, and nothing else?"""
    files = {p.relative_to(course / "release" / name).as_posix() for p in (course / "release" / name).rglob("*")
             if p.is_file()}
    assert files == {f"{name}.ipynb"} | _FROZEN | _STUDENT_FILES | _EXTRA_FILES.get(name, set())
    frozen = json.loads((course / "release" / name / "public_cases.json").read_text())
    assert {row["visibility"] for row in frozen["cases"]} == {"visible"}


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_stubs_fail_their_checks_with_the_stub_message(course, name, tmp_path):
    """Left as stubs, does every check cell fail, pointing at the stub?"""
    release = copy_release(course, name, tmp_path)
    book = execute(nbformat.read(release / f"{name}.ipynb", as_version=4), release, allow_errors=True)
    stubbed = {gid[:-len("_solution")] for gid in nb.solution_sources(book)}
    for function, cell in _check_cells(book):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if function not in stubbed:  # provided code (KERNELS): its check passes in the release too
            assert not errors, errors
            continue
        assert errors, f"the check of {function} passed on a stub"
        assert STUB_MESSAGE.format(function=function) in errors[0].evalue


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_solutions_put_back_pass_every_check(course, name, tmp_path):
    """With the solution code put back into the released notebook, does it run without an error?"""
    release = copy_release(course, name, tmp_path)
    book = execute(_filled(release, name), release)
    assert len(_check_cells(book)) > 0


def test_student_interpreter_cannot_import_the_grader(course, tmp_path):
    """Is the self-check really run without the reference (nor the grader) importable?"""
    release = copy_release(course, ASSIGNMENTS[0], tmp_path)
    for module in ("reference", "autograder"):
        proc = student_python(f"import {module}", release)
        assert proc.returncode != 0 and "ModuleNotFoundError" in proc.stderr, proc.stderr


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_student_pytest_fails_on_stubs_and_passes_when_solved(course, name, tmp_path):
    """Does `pytest` in the release fail on the stubs, pass once solved, and always say hidden cases exist?"""
    release = copy_release(course, name, tmp_path)
    stubs = student_pytest(release)
    assert stubs.returncode == 1, stubs.stdout + stubs.stderr
    assert "not implemented yet" in stubs.stdout
    _filled(release, name)
    solved = student_pytest(release)
    assert solved.returncode == 0, solved.stdout + solved.stderr
    total = len(json.loads((release / "public_cases.json").read_text())["cases"])
    assert SUMMARY_MESSAGE.format(passed=total, total=total) in solved.stdout


def test_one_marker_selects_one_function(course, tmp_path):
    """Does `pytest -m <function>` run only that function's public cases?"""
    name = ASSIGNMENTS[0]
    release = copy_release(course, name, tmp_path)
    _filled(release, name)
    cases = json.loads((release / "public_cases.json").read_text())["cases"]
    function = cases[0]["function"]
    want = sum(c["function"] == function for c in cases)
    proc = student_pytest(release, "-m", function)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert SUMMARY_MESSAGE.format(passed=want, total=want) in proc.stdout


def test_a_missing_assignment_is_named(tmp_path):
    """Does building an assignment without a source notebook fail with a message naming it?"""
    absent = [a for a in ("convolution", "layers", "backprop", "cnn") if a not in ASSIGNMENTS]
    with pytest.raises(BuildError, match=repr(absent[0]) if absent else "unknown assignment"):
        build_course(tmp_path, absent[:1] or ["no-such-assignment"])
