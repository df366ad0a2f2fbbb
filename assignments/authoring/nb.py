"""Builders for the nbgrader source notebooks: one small function per kind of cell.

Every notebook of the course is written by a script in this folder (``convolution.py``, ``layers.py``, ...) as a
list of cells made here, so the four notebooks share one layout:

* ``markdown(text)``: teaching text (dedented, so it can be written as an indented triple-quoted string).
* ``setup_cell(source)``: imports and provided code the student's functions need; locked, and part of what the
  loader (``convkit_check.notebook_source``) executes.
* ``picture_helpers()`` + ``demo_code(source)``: teaching and plotting cells, tagged ``convkit-demo`` so the loader and
  the grader skip them. Demo code calls only the student's functions; wrap it in ``@picture`` so a stub prints
  "implement X above to see this picture" instead of a traceback.
* ``solution_cell(name, header, solution)``: the student's function: ``header`` is the signature, the docstring
  (shape contract) and the input checks, ``solution`` the body that nbgrader replaces with a stub. The checks stay
  outside the solution region, so the released stub still validates its input.
* ``test_cell(function, points)``: the visible, locked nbgrader grade cell that runs ``check("fn", fn)``.

``notebook`` gives every cell a stable id (so regenerating an unchanged notebook gives the same file). The solution
region itself (its delimiters, ``solution_sources``, ``fill_solutions``, ...) is parsed by :mod:`autograder.notebooks`,
re-exported here.
"""
from __future__ import annotations

import inspect
import textwrap

import nbformat
import numpy as np

from autograder.notebooks import (BEGIN, END, fill_solutions, solution_region_lines, solution_sources,
                                  without_delimiters, write_notebook)

__all__ = [
    "BEGIN",
    "END",
    "DEMO_TAG",
    "STUB_PICTURE",
    "markdown",
    "setup_cell",
    "picture_helpers",
    "demo_code",
    "solution_cell",
    "test_cell",
    "assemble",
    "notebook",
    "build_notebook",
    "script_main",
    "write_notebook",
    "solution_sources",
    "solution_region_lines",
    "fill_solutions",
    "without_delimiters",
    "provided_checks",
    "array_literal",
]

DEMO_TAG = "convkit-demo"
# Printed by a demo cell whose picture needs a function that is still a stub.
STUB_PICTURE = "implement {name} above to see this picture"
_SCHEMA = 3
_INDENT = "    "


def _clean(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def _nbgrader(grade_id: str, *, grade=False, solution=False, locked=False, points=None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": _SCHEMA,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def provided_checks() -> str:
    """Source of the reference's input-check helpers (``as_array``, ``pair``, ...) for a notebook's setup cell.

    Copied from :mod:`reference._checks` when the notebook is written, so the stubs raise the same
    ``ValueError``/``TypeError`` messages as the reference without the release importing it.
    """
    from reference import _checks

    names = ("as_array", "as_float_array", "same_float_dtype", "positive_int", "pair")
    parts = ["import numbers", "", "import numpy as np"]
    parts += ["", "", *("\n\n".join(inspect.getsource(getattr(_checks, n)) for n in names)).splitlines()]
    return "\n".join(parts)


def _shortest(v) -> str:
    """The shortest text that reads back as the same float (``0.1111111111111111``, ``3``, ``-0.5``)."""
    return np.format_float_positional(v, trim="-")


def array_literal(a, indent: int = 0) -> str:
    """``np.array([...])`` source text for a small array (used to print the slides' examples into a notebook)."""
    a = np.asarray(a)
    body = np.array2string(a, separator=", ", threshold=10_000, max_line_width=100,
                           formatter={"float_kind": _shortest})
    body = body.replace("\n", "\n" + " " * (indent + 9))
    return f"np.array({body}, dtype=float)"


def markdown(text: str) -> nbformat.NotebookNode:
    """A teaching cell; ``text`` may be indented (it is dedented)."""
    return nbformat.v4.new_markdown_cell(_clean(text))


def setup_cell(source: str, grade_id: str = "setup") -> nbformat.NotebookNode:
    """Provided code (imports, constants, helpers) that the student's functions need; locked by nbgrader."""
    cell = nbformat.v4.new_code_cell(_clean(source))
    cell.metadata["nbgrader"] = _nbgrader(grade_id, locked=True)
    return cell


def demo_code(source: str) -> nbformat.NotebookNode:
    """A teaching/plotting cell, skipped by the loader and the grader (tag ``convkit-demo``)."""
    cell = nbformat.v4.new_code_cell(_clean(source))
    cell.metadata["tags"] = [DEMO_TAG]
    return cell


def picture_helpers() -> nbformat.NotebookNode:
    """The demo cell that defines ``@picture`` (run a drawing now; explain a stub instead of a traceback)."""
    return demo_code(f'''
        # Teaching helpers: pictures only, never graded.
        import matplotlib.pyplot as plt


        def picture(draw):
            """Run ``draw()`` now; if a function it needs is still a stub, say which one instead of failing."""
            try:
                draw()
            except NotImplementedError as exc:
                tb = exc.__traceback__
                while tb.tb_next is not None:
                    tb = tb.tb_next
                plt.close("all")
                print({STUB_PICTURE!r}.format(name=tb.tb_frame.f_code.co_name))
            return draw
        ''')


def solution_cell(name: str, header: str, solution: str) -> nbformat.NotebookNode:
    """The cell of student function ``name``: ``header`` (def line, docstring, input checks) then the solution region.

    ``solution`` is the function body after the checks, written unindented; it becomes the region between
    ``### BEGIN SOLUTION`` and ``### END SOLUTION`` that nbgrader replaces with ``raise NotImplementedError()``.
    """
    header, solution = _clean(header), _clean(solution)
    if f"def {name}(" not in header:
        raise ValueError(f"header of solution cell {name!r} must define {name}(...)")
    body = textwrap.indent(solution, _INDENT)
    source = f"{header}\n{_INDENT}{BEGIN}\n{body}\n{_INDENT}{END}"
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = _nbgrader(f"{name}_solution", solution=True)
    return cell


def test_cell(function: str, points: float) -> nbformat.NotebookNode:
    """The visible grade cell of ``function``: runs its public cases; ``points`` is its total over all cases."""
    source = (f"# Checks {function} on its public cases; the grader also runs hidden cases.\n"
              f"from convkit_check import check\n"
              f"check({function!r}, {function})")
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = _nbgrader(f"{function}_check", grade=True, locked=True, points=float(points))
    return cell


def assemble(items: list, solutions: dict, points: dict) -> list:
    """Cells from a teaching list where a plain string ``"fn"`` stands for fn's solution cell then its check cell.

    ``solutions`` maps each student function to its :func:`solution_cell`, ``points`` each graded name to its total
    points (``autograder.suites.points_by_function``). A graded name without a solution (provided code, such as
    the KERNELS table) gets its check cell only; a solution that is not graded (the cnn's helpers, the cells where
    a student pastes earlier work) gets no check cell. Every solution and every graded name must be placed once.
    """
    cells, placed = [], []
    for item in items:
        if isinstance(item, str):
            cells += [solutions[item]] if item in solutions else []
            cells += [test_cell(item, points[item])] if item in points else []
            placed.append(item)
        else:
            cells.append(item)
    if sorted(placed) != sorted(set(solutions) | set(points)):
        raise ValueError(f"teaching cells place {sorted(placed)}, but the solutions and graded names are "
                         f"{sorted(set(solutions) | set(points))}")
    return cells


def build_notebook(script) -> nbformat.NotebookNode:
    """The notebook a script describes (its ``NAME``, ``TITLE``, ``teaching()`` and ``solutions()``); the check
    cells' points come from the graded suites."""
    from autograder.suites import points_by_function

    return notebook(assemble(script.teaching(), script.solutions(), points_by_function(script.NAME)), script.TITLE)


def script_main(script) -> int:
    """What ``python -m assignments.authoring.<name>`` does: write the notebook to the script's ``PATH``."""
    print(f"wrote {write_notebook(build_notebook(script), script.PATH)}")
    return 0


def notebook(cells: list, title: str) -> nbformat.NotebookNode:
    """A notebook on the ``python3`` kernel, with stable cell ids derived from the order and the grade ids."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["title"] = title
    for index, cell in enumerate(cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        cell["id"] = grade_id.replace("_", "-") if grade_id else f"cell-{index:03d}"
    nb.cells = list(cells)
    nbformat.validate(nb)
    return nb
