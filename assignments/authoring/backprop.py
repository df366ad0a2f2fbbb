"""Writes assignments/source/backprop/backprop.ipynb: gradients of every layer, checked numerically (slides 001).

Run ``python -m assignments.authoring.backprop`` from the repository root. The teaching cells live in
``_backprop_cells.py`` (sections 1 to 6), ``_backprop_pool_cells.py`` (7 to 9) and ``_backprop_learn_cells.py``
(the learned kernel that ends section 9), the solution cells in
``_backprop_solutions.py``, the input-check helpers come from :mod:`reference._checks` and the points of each
check cell from ``autograder.suites.points_by_function``;
tests/assignments/test_notebooks_34.py grades the solutions against the reference on every case, public and hidden.
"""
from __future__ import annotations

from pathlib import Path

from assignments.authoring import nb
from assignments.authoring._backprop_cells import teaching
from assignments.authoring._backprop_solutions import solutions
from autograder.suites import assignment

NAME = "backprop"
TITLE = assignment(NAME).title
PATH = Path(__file__).resolve().parents[1] / "source" / NAME / f"{NAME}.ipynb"

__all__ = ["NAME", "TITLE", "PATH", "teaching", "solutions"]


if __name__ == "__main__":
    import sys

    raise SystemExit(nb.script_main(sys.modules[__name__]))
