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

NAME = "cnn"
TITLE = "A CNN that reads handwritten digits"
PATH = Path(__file__).resolve().parents[1] / "source" / NAME / f"{NAME}.ipynb"

__all__ = ["NAME", "TITLE", "PATH", "DATA_FILE", "teaching", "solutions", "write_training_digits"]


def write_training_digits(dest) -> Path:
    """Write ``dest/digits_train.npz`` (``x_train (N, 1, 8, 8)`` float in [0, 1], ``y_train (N,)`` int64): the
    TRAINING part of ``reference.digits.load_digits_split()`` only; the held-out digits stay with the grader.

    The release hook of ``autograder build`` (``RELEASE_EXTRAS["cnn"]``) and the notebook tests call it.
    """
    import numpy as np

    from reference.digits import load_digits_split

    x_train, y_train, _, _ = load_digits_split()
    path = Path(dest) / DATA_FILE
    np.savez_compressed(path, x_train=x_train, y_train=y_train)
    return path


if __name__ == "__main__":
    import sys

    raise SystemExit(nb.script_main(sys.modules[__name__]))
