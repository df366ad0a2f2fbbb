"""Self-check of this assignment: loads your notebook's functions once, runs the public cases.

A marker per function lets you run one of them: ``pytest -m correlate2d``. Plots are never shown.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # `python -I -m pytest` does not put the folder on sys.path
    sys.path.insert(0, str(HERE))

from convkit_check import (CELL_ERROR_MESSAGE, CELL_ERRORS, SUMMARY_MESSAGE,  # noqa: E402
                           load_notebook, load_public_cases, numpy_version_warning)

NOTEBOOK_ENV = "CONVKIT_NOTEBOOK"
_STATE: dict = {"passed": 0, "total": 0, "cell_errors": []}


def notebook_path() -> Path:
    """The notebook to check: $CONVKIT_NOTEBOOK, else the folder's notebook (the one named like the folder)."""
    if os.environ.get(NOTEBOOK_ENV):
        return Path(os.environ[NOTEBOOK_ENV])
    found = sorted(p for p in HERE.glob("*.ipynb") if not p.name.startswith("."))
    named = [p for p in found if p.stem == HERE.name]
    if not found:
        raise pytest.UsageError(f"no notebook (*.ipynb) in {HERE}")
    return (named or found)[0]


def pytest_sessionstart(session):
    notebook_path()  # no notebook: one line that says so, rather than an error per case


def pytest_configure(config):
    for function in sorted({case.function for case in load_public_cases(HERE)}):
        config.addinivalue_line("markers", f"{function}: the public cases of {function}")


@pytest.fixture(scope="session")
def notebook():
    """The namespace of the notebook's code cells (solution and setup cells, no demos, no test cells)."""
    namespace = load_notebook(notebook_path())
    _STATE["cell_errors"] = namespace[CELL_ERRORS]
    return namespace


def pytest_runtest_logreport(report):
    if report.when == "call" and "::test_case[" in report.nodeid:
        _STATE["total"] += 1
        _STATE["passed"] += report.passed


def pytest_terminal_summary(terminalreporter):
    write = terminalreporter.write_line
    warning = numpy_version_warning(HERE)
    if warning:  # at the end, beside the verdicts: they may not be the grader's
        write(warning, yellow=True)
    for error in _STATE["cell_errors"]:
        write(CELL_ERROR_MESSAGE.format(**error))
    # A report said by several cases (a stub's one line) is written once, naming them all.
    said: dict[tuple[str, str], list[str]] = {}
    for report in [*terminalreporter.stats.get("failed", []), *terminalreporter.stats.get("error", [])]:
        verdict = "FAILED" if report.failed and report.when == "call" else "ERROR"
        said.setdefault((verdict, str(report.longrepr)), []).append(report.nodeid.split("::")[-1])
    for (verdict, text), ids in said.items():
        write("")
        write(f"{verdict} {ids[0]}" if len(ids) == 1 else f"{verdict} {len(ids)} cases: {', '.join(ids)}")
        write(text)
    if _STATE["total"]:
        write("")
        write(SUMMARY_MESSAGE.format(passed=_STATE["passed"], total=_STATE["total"]), bold=True)
