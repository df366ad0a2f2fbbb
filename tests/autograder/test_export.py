"""Does the Gradescope export grade a real submission the way Gradescope would run it?"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.export import export_gradescope
from autograder.suites import points_by_function
from tests.helpers import student_notebook

ROOT = Path(__file__).resolve().parents[2]
SOURCE_NOTEBOOK = ROOT / "assignments" / "source" / "layers" / "layers.ipynb"



def test_zip_holds_setup_run_script_suites_and_reference(tmp_path):
    """Does the zip carry Gradescope's two scripts (valid bash, executable) and the grader's source?"""
    path = export_gradescope("layers", tmp_path)
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
        for script in ("setup.sh", "run_autograder"):
            assert script in names and modes[script] & 0o111
            (tmp_path / script).write_bytes(zf.read(script))
            subprocess.run(["bash", "-n", str(tmp_path / script)], check=True)
    assert {"source/reference/conv.py", "source/autograder/suites/layers.py", "source/autograder/grading.py",
            "source/pyproject.toml"} <= names
    assert not any("__pycache__" in n for n in names)


def test_unknown_assignment_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown assignment 'nope'"):
        export_gradescope("nope", tmp_path)


@pytest.mark.slow
def test_run_autograder_grades_a_submission_in_gradescopes_layout(tmp_path):
    """Unpacked as /autograder/{source,submission,results}, does run_autograder write the full score?"""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(export_gradescope("layers", tmp_path / "gs.zip")) as zf:
        zf.extractall(root)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    (root / "submission" / "layers.ipynb").write_text(nbformat.writes(student_notebook(SOURCE_NOTEBOOK)))
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "CONVKIT_PYTHON": sys.executable}
    run = subprocess.run(["bash", str(root / "run_autograder")], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads((root / "results" / "results.json").read_text())
    assert result["score"] == sum(points_by_function("layers").values())
    assert all(t["status"] == "passed" for t in result["tests"])
    assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(result["tests"][0])
