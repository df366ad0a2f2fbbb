"""The source notebooks: generated from assignments/authoring/, solutions that equal the reference on every case,
check cells worth the suites' points, and a clean top-to-bottom run in a real kernel."""
from __future__ import annotations

import importlib
import re

import nbformat
import pytest

from assignments.authoring import nb
from autograder.student import convkit_check as cc
from autograder.suites import cases_for, points_by_function
from tests.assignments._course import ASSIGNMENTS, execute, source_notebook, stage_source



def test_every_assignment_has_its_source_notebook():
    """Is every assignment the suites grade there as a source notebook (nothing here skips when one moves)?"""
    from autograder.suites import ASSIGNMENTS as GRADED

    assert list(GRADED) == ASSIGNMENTS
    assert all(source_notebook(name).is_file() for name in GRADED)


def _cells(book):
    return [(c.cell_type, c.source, c.metadata.get("nbgrader"), c.metadata.get("tags")) for c in book.cells]


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_committed_notebook_is_what_its_script_writes(name):
    """Is the committed notebook current (script, reference examples, suites' points all unchanged since)?"""
    script = importlib.import_module(f"assignments.authoring.{name}")
    committed = nbformat.read(source_notebook(name), as_version=4)
    assert _cells(committed) == _cells(nb.build_notebook(script)), (
        f"{source_notebook(name)} is stale: run `python -m assignments.authoring.{name}`")


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_one_solution_and_one_check_per_graded_function(name):
    """Does every graded function have a solution cell (unless provided) and a check cell worth its total points?"""
    book = nbformat.read(source_notebook(name), as_version=4)
    solutions = {gid[:-len("_solution")] for gid in nb.solution_sources(book)}
    checks = {c.metadata["nbgrader"]["grade_id"][:-len("_check")]: c.metadata["nbgrader"]["points"]
              for c in book.cells if c.metadata.get("nbgrader", {}).get("grade")}
    points = points_by_function(name)
    # Graded names the notebook provides instead of stubbing (KERNELS) get a check but no solution cell; solution
    # cells the suites do not grade (the cnn's pasted layers) get no check cell.
    assert set(points) - solutions <= {"KERNELS"}
    assert checks == pytest.approx(points)


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_source_solutions_earn_every_point(name):
    """Do the notebook's solutions pass every case, public and hidden (one source of truth with the reference)?"""
    namespace = cc.load_notebook(source_notebook(name))
    assert namespace[cc.CELL_ERRORS] == []
    results = [cc.run_case(case, lambda f, a, k: cc.call_in_namespace(namespace, f, a, k)) for case in cases_for(name)]
    failed = [r.message for r in results if r.points != r.max_points]
    assert not failed, "\n\n".join(failed)
    assert {case.visibility for case in cases_for(name)} == {"visible", "hidden"}


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_source_notebook_runs_top_to_bottom(name, tmp_path):
    """Does the source notebook run without an error in a real kernel, every check cell passing?"""
    path = stage_source(name, tmp_path)
    book = execute(nbformat.read(path, as_version=4), path.parent)
    summary = re.compile(re.escape(cc.SUMMARY_MESSAGE).replace(r"\{passed\}", r"(\d+)").replace(r"\{total\}", r"(\d+)"))
    checks = [c for c in book.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(checks) == len(points_by_function(name))
    for cell in checks:
        text = "".join(o.get("text", "") for o in cell.outputs)
        found = summary.findall(text)
        # Every check cell prints the summary line once, with every public case of its function passed.
        assert len(found) == 1 and found[0][0] == found[0][1] != "0", (cell.metadata["nbgrader"]["grade_id"], text)
