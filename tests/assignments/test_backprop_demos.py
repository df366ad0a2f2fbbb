"""The backprop notebook's conv demos say what their text says: the learned kernel reaches sobel_x, the difference
of dx and the full correlation is all zeros for a right conv2d_backward and not for a wrong one, and a stub gets
one line saying what to implement.

Each test runs the real demo cells of the source notebook (with the helper cells they use) in the namespace of the
notebook's own code, swapping in the conv functions under test.
"""
from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pytest

from assignments.authoring import nb
from autograder.student import convkit_check as cc

matplotlib.use("Agg")

SOURCE = Path(__file__).resolve().parents[2] / "assignments" / "source" / "backprop" / "backprop.ipynb"
# The markdown after the experiment promises every weight within this of sobel_x.
PROMISED_MAX_ERROR = 0.005
_FINAL = re.compile(r"max \|w - sobel_x\| = ([0-9.e+-]+)")
_DIFF = re.compile(r"max \|dx - full correlation\| = ([0-9.e+-]+) (\S+)")


def _demo(marker: str) -> str:
    """The source of the one demo cell that contains ``marker``."""
    book = nbformat.read(SOURCE, as_version=4)
    found = [c.source for c in book.cells if nb.DEMO_TAG in c.metadata.get("tags", []) and marker in c.source]
    assert len(found) == 1, f"{len(found)} demo cells contain {marker!r}"
    return found[0]


def _run(marker: str, **functions) -> str:
    """Run the demo cell holding ``marker`` after the helper cells, with ``functions`` replacing the notebook's;
    return what it printed."""
    namespace = cc.load_notebook(SOURCE)
    assert namespace[cc.CELL_ERRORS] == []
    for helper in ("def picture(", "def show_grid("):
        exec(_demo(helper), namespace)
    namespace.update(functions)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(_demo(marker), namespace)
    matplotlib.pyplot.close("all")
    return printed.getvalue()


def _stub(name: str):
    """A function called ``name`` that is still a stub, as a released notebook has it."""
    namespace: dict = {}
    exec(f"def {name}(*args, **kwargs):\n    raise NotImplementedError()", namespace)
    return namespace[name]


def test_learned_kernel_reaches_sobel_x():
    """Do the notebook's own conv2d_forward and conv2d_backward bring the random kernel within the promised
    distance of sobel_x, as the printed loss table ends?"""
    text = _run("def loss_and_dw(")
    final = _FINAL.findall(text)
    assert len(final) == 1, text
    assert float(final[0]) < PROMISED_MAX_ERROR
    losses = [float(line.split()[1]) for line in text.splitlines() if re.fullmatch(r"\s*\d+(\s+\S+){2}", line)]
    assert len(losses) == 6 and all(np.diff(losses) < 0), text


def test_learned_kernel_does_not_converge_with_a_wrong_dw():
    """With dw of the flipped kernel (a classic conv2d_backward mistake), does the experiment stay far from sobel_x,
    so the picture shows the student that something is wrong?"""
    namespace = cc.load_notebook(SOURCE)

    def flipped_dw(dout, x, w, stride=1, pad=0):
        dx, dw, db = namespace["conv2d_backward"](dout, x, w, stride, pad)
        return dx, dw[:, :, ::-1, ::-1], db

    final = _FINAL.findall(_run("def loss_and_dw(", conv2d_backward=flipped_dw))
    assert len(final) == 1 and float(final[0]) > 0.5


@pytest.mark.parametrize("stubbed", ["conv2d_forward", "conv2d_backward"])
def test_learned_kernel_names_the_stub(stubbed):
    """While a conv function is still a stub, does the experiment print one line naming it, and raise nothing?"""
    text = _run("def loss_and_dw(", **{stubbed: _stub(stubbed)})
    assert text.strip() == nb.STUB_PICTURE.format(name=stubbed)


def test_difference_map_is_zero_for_a_right_dx():
    """Is dx - full correlation exactly 0 in every cell for the notebook's conv2d_backward (integer inputs: exact)?"""
    found = _DIFF.findall(_run("full correlation"))
    assert found == [("0", "OK")]


def test_difference_map_shows_a_wrong_dx():
    """Does a dx computed with the kernel unflipped (a classic mistake) give a nonzero difference and MISMATCH?"""
    namespace = cc.load_notebook(SOURCE)

    def unflipped_dx(dout, x, w, stride=1, pad=0):
        dx, _, _ = namespace["conv2d_backward"](dout, x, w[:, :, ::-1, ::-1], stride, pad)
        return (dx, *namespace["conv2d_backward"](dout, x, w, stride, pad)[1:])

    found = _DIFF.findall(_run("full correlation", conv2d_backward=unflipped_dx))
    assert len(found) == 1 and float(found[0][0]) > 0 and found[0][1].startswith("MISMATCH")


def test_grids_print_negative_zero_as_zero():
    """Does show_grid write -0.0 as "0", never "-0" (the difference map is all zeros, some of them -0.0)?"""
    namespace: dict = {"np": np}
    exec(_demo("def picture("), namespace)
    exec(_demo("def show_grid("), namespace)
    fig, ax = matplotlib.pyplot.subplots()
    namespace["show_grid"](ax, np.array([[-0.0, 0.0], [-0.004, 1.5]]).round(2), "t")
    assert [t.get_text() for t in ax.texts] == ["0", "0", "0", "1.5"]
    matplotlib.pyplot.close(fig)
