"""Writes assignments/source/cnn/cnn.ipynb: the slides' digit recogniser, built and trained from the student's own
layers (slides 004).

Run ``python -m assignments.authoring.cnn`` from the repository root. The teaching cells live in ``_cnn_cells.py``,
the solution cells in ``_cnn_solutions.py``; the points of each check cell come from
``autograder.suites.points_by_function`` (a function the suites do not grade gets no check cell). The notebook reads
``digits_train.npz`` (training digits only), which ``autograder build`` writes beside it.
tests/assignments/test_notebooks_34.py grades the solutions against the reference and times the training.
"""
from __future__ import annotations

from pathlib import Path

from assignments.authoring import nb
from assignments.authoring._cnn_cells import DATA_FILE, teaching
from assignments.authoring._cnn_solutions import solutions
from autograder.suites import assignment
from autograder.suites.cnn import write_training_digits

NAME = "cnn"
TITLE = assignment(NAME).title
PATH = Path(__file__).resolve().parents[1] / "source" / NAME / f"{NAME}.ipynb"

__all__ = ["NAME", "TITLE", "PATH", "DATA_FILE", "teaching", "solutions", "write_training_digits"]


if __name__ == "__main__":
    import sys

    raise SystemExit(nb.script_main(sys.modules[__name__]))
