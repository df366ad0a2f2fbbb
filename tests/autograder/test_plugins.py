"""The kit's two pytest plugins, run by pytest's own ``pytester``: the students' self-check (the release's
``conftest.py``) and the grading plugin of ``autograder.suite`` (one test per run of a function's cases)."""
from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import suite
from autograder.build import STUDENT_DIR
from autograder.student import convkit_check as cc
from autograder.suites import cases_for, freeze_public, reference_function

pytest_plugins = ["pytester"]

RELU = "import numpy as np\n\ndef relu(x):\n    return np.maximum(x, 0)\n"
WRONG_RELU = "import numpy as np\n\ndef relu(x):\n    return np.minimum(x, 0)\n"
BROKEN_CELL = "import numpy as np\nundefined_name + 1\n"


def _release(folder: Path, *cells: str, notebook: str = "layers.ipynb") -> Path:
    """A release folder of ``layers`` as the build makes it (student files, frozen public cases), with a notebook."""
    for item in STUDENT_DIR.iterdir():
        if item.name in ("__init__.py", "__pycache__"):
            continue
        if item.is_dir():
            shutil.copytree(item, folder / item.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(item, folder / ("test_layers.py" if item.name == "test_selfcheck.py" else item.name))
    freeze_public("layers", folder)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, str(folder / notebook))
    return folder


def _public(function: str) -> int:
    return sum(c.function == function for c in cases_for("layers", "visible"))


def test_a_right_function_passes_every_public_case_and_the_summary_says_so(pytester):
    _release(pytester.path, RELU)
    result = pytester.runpytest("-m", "relu")
    n = _public("relu")
    result.assert_outcomes(passed=n)
    result.stdout.fnmatch_lines([cc.SUMMARY_MESSAGE.format(passed=n, total=n)])


def test_a_wrong_function_fails_each_case_with_its_diagnosis(pytester):
    _release(pytester.path, WRONG_RELU)
    result = pytester.runpytest("-m", "relu")
    n = _public("relu")
    result.assert_outcomes(failed=n)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.stdout.str().count("likely mistake (relu_wrong_side)") >= 1
    result.stdout.fnmatch_lines([cc.SUMMARY_MESSAGE.format(passed=0, total=n)])


def test_every_graded_function_gets_a_marker(pytester):
    _release(pytester.path, RELU)
    result = pytester.runpytest("--markers")
    functions = sorted({c.function for c in cases_for("layers", "visible")})
    assert len(functions) > 3
    result.stdout.fnmatch_lines([f"@pytest.mark.{f}: the public cases of {f}" for f in functions], consecutive=False)


def test_a_cell_that_raises_is_named_in_the_summary(pytester):
    _release(pytester.path, BROKEN_CELL, RELU)
    result = pytester.runpytest("-m", "relu")
    result.assert_outcomes(passed=_public("relu"))  # the later cell still defines relu
    result.stdout.fnmatch_lines([cc.CELL_ERROR_MESSAGE.format(cell=1, type="NameError", message="*")])


def test_the_environment_variable_picks_the_notebook(pytester, monkeypatch):
    folder = _release(pytester.path, WRONG_RELU)
    _release_notebook = folder / "mine.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(RELU)]
    nbformat.write(nb, str(_release_notebook))
    monkeypatch.setenv("CONVKIT_NOTEBOOK", str(_release_notebook))
    pytester.runpytest("-m", "relu").assert_outcomes(passed=_public("relu"))


def test_a_folder_without_a_notebook_is_a_usage_error_that_says_so(pytester):
    _release(pytester.path, RELU)
    (pytester.path / "layers.ipynb").unlink()
    result = pytester.runpytest("-m", "relu")
    assert result.ret != pytest.ExitCode.OK
    assert "no notebook (*.ipynb) in" in result.stdout.str() + result.stderr.str()


def test_a_different_numpy_is_warned_about_at_the_end(pytester):
    folder = _release(pytester.path, RELU)
    meta = json.loads((folder / "public_cases.json").read_text())
    meta["numpy"] = "1.26.4"
    (folder / "public_cases.json").write_text(json.dumps(meta))
    result = pytester.runpytest("-m", "relu")
    result.assert_outcomes(passed=_public("relu"))
    assert cc.numpy_version_warning(folder) in result.stdout.str()


# ---- the grading plugin ----------------------------------------------------------------------------------------

def _reference_call(name, args, kwargs):
    return reference_function(name)(*args, **kwargs)


def _graded(pytester, cases, call):
    plugin = suite._GradingPlugin(cases, call, None, None)
    args = [a for a in suite._PYTEST_ARGS if a not in ("-c", "/dev/null")]
    recorder = pytester.inline_run(*args, str(suite.SUITE_FILE), plugins=[plugin])
    calls = [r for r in recorder.getreports("pytest_runtest_logreport") if r.when == "call"]
    return plugin, calls


def test_one_test_per_run_of_a_function_s_cases_public_runs_first(pytester):
    cases = [c for c in cases_for("layers") if c.function in ("relu", "flatten")]
    cases = sorted(cases, key=lambda c: c.visibility != "visible")  # the order grading gives
    plugin, calls = _graded(pytester, cases, _reference_call)
    groups = [(g[0].function, g[0].visibility) for g in plugin.groups]
    assert [r.nodeid.split("[")[1].rsplit("-", 1)[0] for r in calls] == [f"{f}-{v}" for f, v in groups]
    # Maximal runs: the groups, in order, are exactly the cases; two neighbours never share function and visibility.
    assert [c for g in plugin.groups for c in g] == cases
    assert all(a != b for a, b in itertools.pairwise(groups))
    visibilities = [v for _, v in groups]
    assert visibilities == sorted(visibilities, key=lambda v: v != "visible") and "hidden" in visibilities
    assert all(r.passed for r in calls)
    assert set(plugin.results) == {(c.function, c.case_id) for c in cases}


def test_pytest_s_verdict_and_the_recorded_points_agree(pytester):
    cases = [c for c in cases_for("layers") if c.function in ("relu", "flatten")]

    def call(name, args, kwargs):
        if name == "relu":  # wrong on every case: relu's tests fail, flatten's pass
            return np.minimum(args[0], 0)
        return _reference_call(name, args, kwargs)

    plugin, calls = _graded(pytester, cases, call)
    verdicts = {}
    for group, report in zip(plugin.groups, calls, strict=True):
        verdicts[group[0].function, group[0].visibility] = report.passed
        recorded = [plugin.results[(c.function, c.case_id)] for c in group]
        assert report.passed == all(r.passed for r in recorded)
    assert not any(v for (f, _), v in verdicts.items() if f == "relu")
    assert all(v for (f, _), v in verdicts.items() if f == "flatten")
    assert sum(r.points for r in plugin.results.values()) == sum(c.points for c in cases if c.function == "flatten")
