"""Does `pytest` in a release folder check the notebook as a student would run it (no project on sys.path)?

The folder is made by hand here: the student templates, the frozen public cases of `layers`, and a tiny notebook.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.student import convkit_check as cc
from autograder.suites import cases_for, freeze_public

pytestmark = pytest.mark.slow  # four real pytest subprocesses, ~3.5 s each

STUDENT = Path(cc.__file__).parents[1]
TEMPLATES = ("conftest.py", "pytest.ini")

CORRECT_RELU = "import numpy as np\n\ndef relu(x):\n    return np.maximum(x, 0)\n"
STUB_RELU = "def relu(x):\n    ### BEGIN SOLUTION\n    raise NotImplementedError()\n    ### END SOLUTION\n"
WRONG_SIDE_RELU = "import numpy as np\n\ndef relu(x):\n    return np.minimum(x, 0)\n"
DEMO = "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\n"


def _release(tmp_path: Path, relu_source: str) -> Path:
    folder = tmp_path / "layers"
    folder.mkdir()
    for name in TEMPLATES:
        shutil.copy(STUDENT / name, folder / name)
    shutil.copytree(STUDENT / "convkit_check", folder / "convkit_check", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(STUDENT / "test_selfcheck.py", folder / "test_layers.py")  # the build renames it
    freeze_public("layers", folder)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# layers"), nbformat.v4.new_code_cell(relu_source),
                nbformat.v4.new_code_cell(DEMO)]
    nb.cells[2].metadata["tags"] = ["convkit-demo"]
    nbformat.write(nb, str(folder / "layers.ipynb"))
    return folder


def _pytest(folder: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS")}
    env.update(OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-I", "-m", "pytest", "-m", "relu", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120)


def _n_public_relu() -> int:
    return sum(c.function == "relu" for c in cases_for("layers", "visible"))


@pytest.mark.parametrize("source, passes, fragment", [
    (CORRECT_RELU, True, None),
    (STUB_RELU, False, cc.STUB_MESSAGE.format(function="relu")),
    (WRONG_SIDE_RELU, False, "likely mistake (relu_wrong_side)"),
])
def test_pytest_in_a_release_folder_reports_like_the_notebook(tmp_path, source, passes, fragment):
    folder = _release(tmp_path, source)
    out = _pytest(folder)
    text = out.stdout + out.stderr
    assert (out.returncode == 0) == passes, text
    n = _n_public_relu()
    assert cc.SUMMARY_MESSAGE.format(passed=n if passes else 0, total=n) in text
    assert "hidden cases are graded too" in text
    if fragment:
        assert fragment in text
    assert "Traceback" not in text


def test_the_marker_selects_one_function(tmp_path):
    folder = _release(tmp_path, CORRECT_RELU)
    out = _pytest(folder, "--collect-only")
    collected = [line for line in out.stdout.splitlines() if "::test_case[" in line]
    assert collected and all("[relu-" in line for line in collected)


def test_the_load_line_of_a_report_runs_in_a_release_folder(tmp_path):
    """Does the one line a failed public case prints to load its inputs work, as written, in the release folder?"""
    folder = _release(tmp_path, WRONG_SIDE_RELU)
    out = _pytest(folder)
    prefix = cc.CASE_LOAD_MESSAGE.split("{")[0]
    line = next(line for line in out.stdout.splitlines() if line.startswith(prefix))
    load = line.removeprefix(prefix).split("; then ")[0]
    script = (f"import numpy as np\nimport sys\nsys.path.insert(0, '.')\n{prefix.removeprefix('to try it: ')}{load}\n"
              "print(case.function, np.array_equal(np.maximum(*case.args, 0), case.expected))\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    ran = subprocess.run([sys.executable, "-I", "-c", script], cwd=folder, env=env, capture_output=True, text=True,
                         timeout=60)
    assert ran.returncode == 0 and ran.stdout.split() == ["relu", "True"], ran.stderr + line
