"""Shared by the notebook, release and leak tests: which assignments exist, one built course per test process,
and how to run a notebook or the student's pytest the way a student would."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat

from autograder.build import SOURCE_ROOT, STUDENT_DIR, available_assignments, build_course, stage_assignment

ASSIGNMENTS = available_assignments()
# What a release must never contain a copy of: the reference and the graded suites.
ROOT_REFERENCE_DIRS = (SOURCE_ROOT.parents[1] / "reference", STUDENT_DIR.parent / "suites")
# A notebook cell of the course runs in seconds; this bounds an endless loop, not a normal run.
CELL_TIMEOUT_S = 120
STUDENT_RUN_TIMEOUT_S = 180

_BUILT: dict = {}


def source_notebook(name: str) -> Path:
    return SOURCE_ROOT / name / f"{name}.ipynb"


def built_course(tmp_path_factory) -> Path:
    """The course built once per test process (every release test of the session shares it)."""
    if "course" not in _BUILT:
        course = tmp_path_factory.mktemp("course")
        build_course(course, ASSIGNMENTS)
        _BUILT["course"] = course
    return _BUILT["course"]


def copy_release(course: Path, name: str, dest: Path) -> Path:
    """A fresh copy of ``release/<name>/`` (tests write into it; the shared build stays untouched)."""
    target = dest / name
    shutil.copytree(course / "release" / name, target)
    return target


def execute(book: nbformat.NotebookNode, cwd: Path, allow_errors: bool = False) -> nbformat.NotebookNode:
    """Run ``book`` top to bottom in a real ``python3`` kernel with ``cwd`` as its folder."""
    from nbclient import NotebookClient

    client = NotebookClient(book, kernel_name="python3", timeout=CELL_TIMEOUT_S, allow_errors=allow_errors,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return book


def stage_source(name: str, dest: Path) -> Path:
    """The source notebook staged like a release (public cases, convkit_check, extras beside it), in ``dest``."""
    stage_assignment(name, dest / name)
    return dest / name / f"{name}.ipynb"


# A student's interpreter: isolated (-I: no PYTHONPATH, no script folder) and without site processing (-S), so
# the editable install's .pth hook that makes `reference` and `autograder` importable never runs; the
# third-party packages (numpy, pytest, matplotlib, nbformat) are still found in site-packages.
_STUDENT_BOOT = ("import sys; sys.path.append({site!r}); sys.argv[0] = 'student'; {code}")


def student_python(code: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a student-like interpreter in ``cwd``; returns the finished process (text output)."""
    boot = _STUDENT_BOOT.format(site=sysconfig.get_paths()["purelib"], code=code)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "CONVKIT"))}
    env["MPLBACKEND"] = "Agg"
    return subprocess.run([sys.executable, "-I", "-S", "-c", boot, *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=STUDENT_RUN_TIMEOUT_S)


def student_pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``pytest`` in a release folder, as the student runs it."""
    return student_python("import pytest; raise SystemExit(pytest.main(sys.argv[1:]))", cwd, *args)
