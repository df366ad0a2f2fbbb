"""Small arrays drawn whole as text, the student's answer beside the expected one, the cells that differ marked:
a first-year reads a 5x5 grid faster than "worst at index (4, 0)". Public cases only (the caller decides)."""
from __future__ import annotations

import numpy as np

from .messages import GRID_HEADER, GRID_LEGEND, GRID_MARK

# Up to this many elements an array is drawn whole (a 8x8 digit, a 5x5 slide example, a (2, 3, 2, 4) batch).
MAX_GRID_ELEMENTS = 64
_GAP = "    "


def _cell(x: float) -> str:
    """One number, short: integers without a point, others with 4 significant digits, and -0 as 0."""
    if not np.isfinite(x):
        return str(x)
    x = float(x) + 0.0  # -0.0 + 0.0 is +0.0: the sign of a zero tells a student nothing
    text = f"{x:.0f}" if x == round(x) and abs(x) < 1e15 else f"{x:.4g}"
    return "0" if text == "-0" else text


def _blocks(a: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """``a`` as labelled 2-D blocks: one for 0-, 1- and 2-D arrays, one per leading index ``[n, c]`` above."""
    if a.ndim <= 2:
        return [("", np.atleast_2d(a))]
    return [(f"[{', '.join(map(str, idx))}, :, :]", a[idx]) for idx in np.ndindex(*a.shape[:-2])]


def _lines(a: np.ndarray, marks: np.ndarray | None) -> list[str]:
    cells = np.vectorize(_cell, otypes=[object])(a) if a.size else np.empty(a.shape, dtype=object)
    if marks is not None:
        cells = np.where(marks, cells + GRID_MARK, cells + " ")
    width = max((len(c) for c in cells.flat), default=1)
    out = []
    for label, block in _blocks(cells):
        if label:
            out.append(label)
        out += ["  ".join(c.rjust(width) for c in row) for row in block]
    return out


def drawable(*arrays) -> bool:
    """Are these arrays small enough to be drawn whole?"""
    return all(np.asarray(a).size <= MAX_GRID_ELEMENTS for a in arrays)


def side_by_side(got: np.ndarray, expected: np.ndarray, differ: np.ndarray | None = None) -> str:
    """``got`` and ``expected`` as text grids side by side (left: got); ``differ`` (a mask of ``got``'s shape)
    marks cells with :data:`GRID_MARK`. Shapes may differ (then nothing is marked)."""
    left = _lines(np.asarray(got, dtype=np.float64), differ)
    right = _lines(np.asarray(expected, dtype=np.float64), None if differ is None else np.zeros(differ.shape, bool))
    width = max(len(s) for s in left + ["your answer"])
    rows = max(len(left), len(right))
    left += [""] * (rows - len(left))
    right += [""] * (rows - len(right))
    body = [f"  {g.ljust(width)}{_GAP}{e}".rstrip() for g, e in zip(left, right, strict=True)]
    header = GRID_HEADER.format(got="your answer".ljust(width), gap=_GAP)
    return "\n".join([header + (GRID_LEGEND.format(mark=GRID_MARK) if differ is not None else ""), *body])
