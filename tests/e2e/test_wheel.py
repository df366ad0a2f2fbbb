"""Does the kit work as an installed package, away from the checkout: a wheel in a fresh venv, in a folder outside
the repository, running ``autograder init``, ``build`` and ``grade`` of a complete notebook to full marks, then
``feedback``, ``report`` and the Gradescope ``export``?

Offline and fast: the wheel is built without build isolation, and the fresh venv reaches its dependencies through a
``.pth`` line naming this environment's site-packages. A path line of a ``.pth`` only extends ``sys.path``: the
``.pth`` files inside that folder (this environment's editable install of the kit) are not processed, so the kit is
importable in the fresh venv only from the wheel (checked before and after installing it). The one dependency the
sandboxed worker itself imports, NumPy, is linked into the fresh venv: a worker reads only its own environment's
site-packages (autograder/sandbox/layers.py), as in a real install, where every dependency is there.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.suites import ASSIGNMENTS, points_by_function
from tests.helpers import student_notebook

ROOT = Path(__file__).resolve().parents[2]
# What the wheel is built from: the project file and the folders pyproject.toml maps into the package.
PROJECT_FILES = ("pyproject.toml", "README.md")
PROJECT_DIRS = ("autograder", "reference", "assignments/source")
WORKER_DEPENDENCIES = ("numpy", "numpy.libs")
ASSIGNMENT = "layers"
_WHERE = "import autograder, autograder.assignment as a; print(autograder.__file__); print(a.packaged_sources())"


def _run(cmd: list, cwd: Path, env: dict, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if ok:
        assert proc.returncode == 0, f"{cmd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _link_or_copy(src, dst):
    try:  # a hard link where both folders are on one file system: 70 MB of NumPy cost nothing then
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _wheel(tmp_path: Path, env: dict) -> Path:
    # Built from a copy: an in-tree build would leave build/ and *.egg-info in the checkout.
    tree = tmp_path / "tree"
    for name in PROJECT_FILES:
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tree / name)
    for name in PROJECT_DIRS:
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", tree,
          "-w", tmp_path / "dist"], tmp_path, env)
    (wheel,) = (tmp_path / "dist").glob("convkit-*.whl")
    return wheel


@pytest.mark.slow
def test_a_wheel_in_a_fresh_venv_inits_builds_and_grades_to_full_marks(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["OPENBLAS_NUM_THREADS"] = "1"
    wheel = _wheel(tmp_path, env)
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, env)
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path,
                     env).stdout.strip())
    deps = Path(sysconfig.get_paths()["purelib"])
    (site / "_convkit_test_deps.pth").write_text(f"{deps}\n")
    for name in WORKER_DEPENDENCIES:
        if (deps / name).is_dir():
            shutil.copytree(deps / name, site / name, copy_function=_link_or_copy)
    # This environment's bin after the fresh one's: its `alembic` (which nbgrader shells out to) is a dependency's.
    env["PATH"] = os.pathsep.join([str(venv / "bin"), str(Path(sys.executable).parent), env.get("PATH", "")])
    work = tmp_path / "elsewhere"  # outside the checkout, so nothing is found through the current folder
    work.mkdir()

    hidden = _run([python, "-c", "import autograder"], work, env, ok=False)
    assert hidden.returncode != 0 and "No module named 'autograder'" in hidden.stderr, hidden.stdout
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel], work, env)
    module, sources = _run([python, "-c", _WHERE], work, env).stdout.split()
    assert Path(module).is_relative_to(site) and Path(sources) == site / "autograder" / "sources"

    cli = venv / "bin" / "autograder"
    _run([cli, "init", "course"], work, env)
    assert sorted(p.name for p in (work / "course" / "source").iterdir()) == sorted(ASSIGNMENTS)
    _run([cli, "build", "--course", "course", ASSIGNMENT], work, env)
    assert (work / "course" / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()
    solved = work / "in" / f"ada_{ASSIGNMENT}.ipynb"
    solved.parent.mkdir()
    nbformat.write(student_notebook(work / "course" / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), str(solved))
    proc = _run([cli, "grade", ASSIGNMENT, "in", "--course", "course", "--workers", "1"], work, env)
    full = sum(points_by_function(ASSIGNMENT).values())
    assert f"mean score {full:.1f} / {full:g}" in proc.stdout, proc.stdout
    result = json.loads((work / "course" / "results" / ASSIGNMENT / "ada.json").read_text())
    assert result["score"] == result["max_score"] == full
    _run([cli, "feedback", ASSIGNMENT, "--course", "course", "--no-pictures"], work, env)
    assert (work / "course" / "feedback" / "ada" / ASSIGNMENT / f"{ASSIGNMENT}.html").is_file()
    _run([cli, "report", "--course", "course"], work, env)
    assert f"ada,{full:g},{full:g}" in (work / "course" / "reports" / "grades.csv").read_text().splitlines()
    _run([cli, "export", "gradescope", ASSIGNMENT, "--out", "gs.zip"], work, env)
    with zipfile.ZipFile(work / "gs.zip") as zf:
        names = set(zf.namelist())
    assert {"source/pyproject.toml", "source/autograder/grading.py", "source/reference/conv.py"} <= names
    assert not any("/sources/" in n or n.endswith(".ipynb") for n in names)  # no source notebook, no solution
