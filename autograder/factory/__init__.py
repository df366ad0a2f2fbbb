"""The submission factory: student notebooks built from a course's real release, for the demo's class
(:mod:`autograder.classgen`), the throughput benchmark and the tests.

Two ways to fill a release, both as a student's notebook is (no nbgrader delimiters, which the grader refuses):

* :func:`honest_notebook` -- every solution cell taken whole from the source notebook (``fill_solutions``); then
  :func:`with_stubs`, :func:`replace_body`, :func:`insert_cell`, :func:`delete_cells` change one thing at a time.
* :func:`filled_release` -- each ``raise NotImplementedError()`` line of the release replaced by the code a student
  writes there (a solution region of the source, a body of :mod:`autograder.factory.bodies`, or kept as a stub).

:func:`write_submission` puts a notebook (or raw bytes: a broken file on purpose) into nbgrader's
``submitted/<student>/<assignment>/`` layout. Solution regions are parsed by :mod:`autograder.notebooks` only.
"""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import nbformat

from autograder.factory.bodies import HOSTILE_CODE, HOSTILE_KINDS, MISTAKE_CODE, TESTING_PATCH, UNDIAGNOSED
from autograder.notebooks import (STUB, cell_index, fill_solutions, find_cell, notebook_bytes, read_notebook,
                                  region_bodies, regions, replace_region, solution_sources)

__all__ = ["MISTAKE_CODE", "UNDIAGNOSED", "HOSTILE_CODE", "HOSTILE_KINDS", "TESTING_PATCH", "released_notebook",
           "source_notebook", "honest_notebook", "with_stubs", "replace_body", "honest_body", "insert_cell",
           "delete_cells", "graded_functions", "stub_functions", "fill_stubs", "filled_release", "write_submission"]

_DEF = re.compile(r"^\s*def (\w+)\(", re.M)


def released_notebook(course, assignment: str) -> nbformat.NotebookNode:
    """``course/release/<assignment>/<assignment>.ipynb``: the stubs a student gets."""
    return read_notebook(Path(course) / "release" / assignment / f"{assignment}.ipynb")


def source_notebook(course, assignment: str) -> nbformat.NotebookNode:
    """``course/source/<assignment>/<assignment>.ipynb``: the instructor's notebook, with the solutions."""
    return read_notebook(Path(course) / "source" / assignment / f"{assignment}.ipynb")


def honest_notebook(course, assignment: str, source=None) -> nbformat.NotebookNode:
    """The release as a student gets it, every stub filled with the solution of ``source`` (a notebook or a path;
    default: the course's own source notebook)."""
    return fill_solutions(released_notebook(course, assignment),
                          source if source is not None else source_notebook(course, assignment))


def with_stubs(nb, released, functions):
    """``nb`` with the solution cells of ``functions`` put back to those of the ``released`` notebook (stubs)."""
    for f in functions:
        find_cell(nb, f"{f}_solution").source = find_cell(released, f"{f}_solution").source
    return nb


def replace_body(nb, function: str, body: str, source):
    """``nb`` with the solution region of ``function`` replaced by ``body``: the cell is the ``source`` notebook's
    (its input checks above the region stay), without delimiters, as a student's is."""
    cell = find_cell(read_notebook(source), f"{function}_solution")
    find_cell(nb, f"{function}_solution").source = replace_region(cell.source, body, delimiters=False)
    return nb


def honest_body(source, function: str) -> str:
    """The first solution region of ``function`` in the ``source`` notebook, dedented, ending in a newline."""
    return regions(find_cell(read_notebook(source), f"{function}_solution").source)[0].body + "\n"


def insert_cell(nb, source: str, after: str):
    """``nb`` with a new code cell (student-added, no nbgrader metadata) after the cell ``after``."""
    nb.cells.insert(cell_index(nb, after) + 1, nbformat.v4.new_code_cell(textwrap.dedent(source).strip()))
    return nb


def delete_cells(nb, *grade_ids: str):
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in grade_ids]
    return nb


def graded_functions(released) -> list[str]:
    """The functions with a check cell (``<function>_check``), in notebook order."""
    return [c.metadata["nbgrader"]["grade_id"][: -len("_check")] for c in released.cells
            if c.metadata.get("nbgrader", {}).get("grade") and c.metadata["nbgrader"]["grade_id"].endswith("_check")]


def stub_functions(released_source: str) -> list[str | None]:
    """The function each stub line of a released cell belongs to (the nearest ``def`` above it; None before any)."""
    names: list[str | None] = []
    current: str | None = None
    for line in released_source.splitlines():
        m = _DEF.match(line)
        if m:
            current = m.group(1)
        if line.strip() == STUB:
            names.append(current)
    return names


def fill_stubs(released_source: str, bodies: list[str | None]) -> str:
    """The released cell with its i-th stub line replaced by ``bodies[i]`` (None keeps the stub)."""
    lines, out, i = released_source.splitlines(), [], 0
    for line in lines:
        if line.strip() == STUB:
            body = bodies[i]
            i += 1
            if body is not None:
                out.append(textwrap.indent(textwrap.dedent(body).strip("\n"), line[: len(line) - len(line.lstrip())]))
                continue
        out.append(line)
    return "\n".join(out)


def filled_release(released, source, body_for) -> nbformat.NotebookNode:
    """A copy of the ``released`` notebook whose stub lines hold ``body_for(function, solution)``: the code a
    student writes in ``function`` where the ``source`` notebook's region is ``solution`` (None keeps the stub)."""
    solutions = solution_sources(source)
    nb = nbformat.from_dict(released)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution"):
            continue
        pairs = zip(stub_functions(cell.source), region_bodies(solutions[meta["grade_id"]]), strict=True)
        cell.source = fill_stubs(cell.source, [body_for(fn, solution) for fn, solution in pairs])
    return nb


def write_submission(course, student: str, content, assignment: str, timestamp: str | None = None) -> Path:
    """``content`` (a notebook or raw bytes) as nbgrader's ``submitted/<student>/<assignment>/<assignment>.ipynb``,
    with nbgrader's ``timestamp.txt`` beside it when ``timestamp`` is given; returns the notebook's path."""
    from autograder.course import as_course

    path = as_course(course).submission_dir(student, assignment) / f"{assignment}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(notebook_bytes(content))
    if timestamp is not None:
        (path.parent / "timestamp.txt").write_text(timestamp)
    return path
