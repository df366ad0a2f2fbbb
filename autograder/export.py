"""``autograder export gradescope ASSIGNMENT``: a Gradescope autograder zip that grades with the same trusted grader.

The zip holds ``setup.sh`` (installs Python, bubblewrap and the kit's grader side: no torch, no nbgrader),
``run_autograder`` (grades ``/autograder/submission/*.ipynb`` and writes ``/autograder/results/results.json``)
and ``source/``: the grader's packages as this installation has them (``reference`` and ``autograder``: the suites,
the sandbox; not the source notebooks) with a ``pyproject.toml`` that installs them. Gradescope's results.json
schema is the one the kit's own result files use, so the same dict is written.
"""
from __future__ import annotations

import importlib
import json
import os
import zipfile
from pathlib import Path

__all__ = ["export_gradescope", "run_gradescope", "NO_NOTEBOOK"]

NO_NOTEBOOK = "no .ipynb notebook was found in the submission: upload {assignment}.ipynb"
_PACKAGES = ("reference", "autograder")
_NOT_ZIPPED = {"__pycache__", "sources"}  # bytecode; the source notebooks (with solutions), which grading never needs
# What `pip install -e /autograder/source` needs of a project: the packages, their data (pages' templates, the
# student files the self-check uses). The dependencies are setup.sh's, installed before.
_PYPROJECT = """[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "convkit-grader"
version = "0"
requires-python = ">=3.11"

[tool.setuptools.packages.find]
include = ["reference*", "autograder*"]

[tool.setuptools.package-data]
autograder = ["templates/*", "student/*"]
"""

_SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once when it builds the autograder image (Ubuntu).
set -euo pipefail
apt-get update -qq
apt-get install -y -qq python3 python3-pip python3-venv bubblewrap >/dev/null
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -q --upgrade pip
# The grader side only: numpy, pytest, nbformat, the CLI and the sandbox's seccomp layer; no torch, no nbgrader.
/autograder/venv/bin/pip install -q numpy nbformat pytest pytest-timeout click tqdm jinja2 matplotlib pyseccomp
/autograder/venv/bin/pip install -q --no-deps -e /autograder/source
"""

_RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. AUTOGRADER_ROOT lets a test run it outside Gradescope's /autograder.
set -euo pipefail
root="${{AUTOGRADER_ROOT:-/autograder}}"
python="${{CONVKIT_PYTHON:-$root/venv/bin/python}}"
export OPENBLAS_NUM_THREADS=1
cd "$root/source"
exec "$python" -m autograder.export {assignment} "$root/submission" "$root/results/results.json"
"""


def export_gradescope(assignment: str, dest: Path) -> Path:
    """Write the Gradescope autograder zip for ``assignment`` to ``dest`` (a .zip path or a folder)."""
    from autograder.suites import assignment as registered

    registered(assignment)  # ValueError naming the registered ones for any other name
    dest = Path(dest)
    if dest.suffix != ".zip":
        dest = dest / f"gradescope-{assignment}.zip"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in (("setup.sh", _SETUP_SH), ("run_autograder", _RUN_AUTOGRADER.format(assignment=assignment))):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            zf.writestr(info, text)
        for package in _PACKAGES:  # from wherever this installation imports them (a wheel's site-packages, a checkout)
            init = importlib.import_module(package).__file__
            if init is None:  # a namespace package: no folder of its own to zip
                raise RuntimeError(f"{package} is not installed as a package with an __init__.py; cannot zip it")
            folder = Path(init).resolve().parent
            for path in sorted(folder.rglob("*")):
                parts = path.relative_to(folder).parts
                if path.is_file() and not _NOT_ZIPPED.intersection(parts):
                    zf.write(path, f"source/{package}/{Path(*parts).as_posix()}")
        zf.writestr("source/pyproject.toml", _PYPROJECT)
    return dest


def run_gradescope(assignment: str, submission_dir: Path, results_path: Path) -> dict:
    """Grade the notebook in ``submission_dir`` (Gradescope's upload folder), write ``results_path`` and return
    what it holds (Gradescope's results.json dict)."""
    from autograder.engines import grade_task
    from autograder.results import write_result
    from autograder.safe_read import walk_tree
    from autograder.submissions import Submission

    root = Path(submission_dir)
    # The upload is walked without entering a link (safe_read.walk_tree); the notebook is read with none followed.
    notebooks = sorted(root.joinpath(*parts) for parts, kind in walk_tree(root).items()
                       if parts[-1].endswith(".ipynb"))
    if not notebooks:
        result = {"score": 0.0, "output": NO_NOTEBOOK.format(assignment=assignment), "tests": []}
    else:
        chosen = next((nb for nb in notebooks if nb.name == f"{assignment}.ipynb"), notebooks[0])
        result = json.loads(grade_task(assignment, Submission(assignment, chosen, root=root).sent()))
    write_result(Path(results_path), result)
    return result


if __name__ == "__main__":
    import sys

    if len(sys.argv) != 4:
        raise SystemExit("usage: python -m autograder.export ASSIGNMENT SUBMISSION_DIR RESULTS_JSON")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    out = run_gradescope(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
    print(json.dumps({"score": out["score"], "max_score": out.get("max_score")}))
