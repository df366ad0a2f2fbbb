"""The worked examples of the lecture slides (../shared/seeds/), as data.

Each example names the slide deck it comes from, the reference function and arguments that reproduce it, the result
the slide prints and, where the slide is wrong, the correct result with a note (the four errata of CURRICULUM.md).
The demo prints them, the tests reproduce them, and the graded suites use them as public cases.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["WorkedExample", "EXAMPLES", "by_id"]


@dataclass(frozen=True)
class WorkedExample:
    """One worked example: ``function(*args, **kwargs)`` should equal ``expected``.

    ``slide`` is the result as the slide prints it; it differs from ``expected`` only for an erratum, which
    ``erratum`` then explains. ``section`` says what the example teaches.
    """

    id: str
    seed: str
    section: str
    function: str
    args: tuple
    expected: np.ndarray
    slide: np.ndarray
    kwargs: dict = field(default_factory=dict)
    erratum: str = ""


def _a(rows) -> np.ndarray:
    return np.array(rows, dtype=np.float64)


_BINARY_5x5 = _a([[0, 1, 1, 0, 0], [0, 1, 1, 0, 0], [1, 0, 0, 1, 1], [0, 1, 1, 0, 1], [1, 1, 1, 1, 1]])
_SHARPEN = _a([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
_X_KERNEL = _a([[1, 0, 1], [0, 1, 0], [1, 0, 1]])
_POOL_4x4 = _a([[2, 3, 1, 9], [4, 7, 3, 5], [8, 2, 2, 2], [1, 3, 4, 5]])
_PADDED_SHARPEN = _a([[-1, 3, 3, -1, 0], [-2, 3, 3, -2, -1], [5, -3, -3, 4, 3], [-3, 3, 3, -4, 3], [4, 2, 2, 3, 3]])
_DIGIT_6x6 = _a([[0, 0, 0, 0, 0, 0], [0.2, 0.8, 0, 0.3, 0.6, 0], [0.2, 0.9, 0, 0.3, 0.8, 0],
                 [0.3, 0.8, 0.7, 0.8, 0.9, 0], [0, 0, 0, 0.2, 0.8, 0], [0, 0, 0, 0.2, 0.2, 0]])
_DIGIT_6x6_OUT = _a([[1, 1.2, 1.1, 0.9], [2.1, 2.7, 2.5, 1.9], [1.0, 2.1, 2.4, 1.4], [1.0, 1.8, 2.0, 1.8]])


def _with(a: np.ndarray, index, value) -> np.ndarray:
    out = a.copy()
    out[index] = value
    return out


def _nchw(a: np.ndarray) -> np.ndarray:
    return a[None, None]


EXAMPLES: tuple[WorkedExample, ...] = (
    WorkedExample(
        "first-correlation", "000_f5e7de13f482cdd3", "a 2x2 kernel slid over a 3x3 image", "correlate2d",
        (np.arange(9.0).reshape(3, 3), _a([[0, 1], [2, 3]])), _a([[19, 25], [37, 43]]), _a([[19, 25], [37, 43]])),
    WorkedExample(
        "vertical-edge", "000_f5e7de13f482cdd3", "a vertical-edge kernel on a white bar between black borders",
        "correlate2d", (np.tile(_a([0, 255, 255, 255, 0]), (5, 1)), np.tile(_a([1, 0, -1]), (3, 1))),
        np.tile(_a([-765, 0, 765]), (3, 1)), np.tile(_a([-765, 0, 765]), (3, 1))),
    WorkedExample(
        "x-kernel-binary", "001_9e3113838fd4bfa5", "multiply element-wise and sum, at every location", "correlate2d",
        (_a([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]]), _X_KERNEL),
        _a([[4, 3, 4], [2, 4, 3], [2, 3, 4]]), _a([[4, 3, 4], [2, 4, 3], [2, 3, 4]])),
    WorkedExample(
        "relu-4x4", "001_9e3113838fd4bfa5", "ReLU keeps positives and zeroes negatives", "relu",
        (_a([[1, 14, -9, 4], [-2, -20, 10, 6], [-3, 3, 11, 1], [2, 54, -2, 80]]),),
        _a([[1, 14, 0, 4], [0, 0, 10, 6], [0, 3, 11, 1], [2, 54, 0, 80]]),
        _a([[1, 14, 0, 4], [0, 0, 10, 6], [0, 3, 11, 1], [2, 54, 0, 80]])),
    WorkedExample(
        "max-pool-4x4", "001_9e3113838fd4bfa5", "2x2 max pooling with stride 2", "max_pool2d",
        (_nchw(_POOL_4x4),), _nchw(_a([[7, 9], [8, 5]])), _nchw(_a([[7, 9], [8, 5]]))),
    WorkedExample(
        "avg-pool-4x4", "001_9e3113838fd4bfa5", "2x2 average pooling with stride 2", "avg_pool2d",
        (_nchw(_POOL_4x4),), _nchw(_a([[4, 4.5], [3.5, 3.25]])), _nchw(_a([[4, 4.5], [3.25, 3.25]])),
        erratum="the slide prints 3.25 bottom-left; the window holds 8, 2, 1, 3, whose mean is 14/4 = 3.5"),
    WorkedExample(
        "max-pool-backprop", "001_9e3113838fd4bfa5", "the maxima that the gradient will flow back to",
        "max_pool2d", (_nchw(_a([[0, 55, 0, 0], [20, 0, 41, 33], [0, 90, 0, 0], [0, 57, 0, 95]])),),
        _nchw(_a([[55, 41], [90, 95]])), _nchw(_a([[55, 41], [90, 95]]))),
    WorkedExample(
        "identity-filter", "001_9e3113838fd4bfa5", "an identity filter picks the centre pixel", "correlate2d",
        (_a([[0, 7, 0], [0, 80, 31], [33, 14, 0]]), _a([[0, 0, 0], [0, 1, 0], [0, 0, 0]])), _a([[80]]), _a([[80]])),
    WorkedExample(
        "sharpen-valid", "002_196d6f8ce929aaeb", "the sharpen kernel, no padding", "correlate2d",
        (_BINARY_5x5, _SHARPEN), _a([[3, 3, -2], [-3, -3, 4], [3, 3, -4]]), _a([[3, 3, -2], [-3, -3, 4], [3, 3, -4]])),
    WorkedExample(
        "sharpen-pad1", "002_196d6f8ce929aaeb", "the sharpen kernel with one ring of zero padding", "correlate2d",
        (_BINARY_5x5, _SHARPEN), _PADDED_SHARPEN, _with(_PADDED_SHARPEN, (4, 0), 5), kwargs={"pad": 1},
        erratum="the slide prints 5 bottom-left; the window there sums 5*1 - 1 = 4"),
    WorkedExample(
        "sharpen-pad1-stride2", "002_196d6f8ce929aaeb", "padding 1 and stride 2", "correlate2d",
        (_BINARY_5x5, _SHARPEN), _PADDED_SHARPEN[::2, ::2], _with(_PADDED_SHARPEN[::2, ::2], (2, 0), 5),
        kwargs={"pad": 1, "stride": 2},
        erratum="the slide prints 5 bottom-left; it is the same window as the padded example, which sums to 4"),
    WorkedExample(
        "max-pool-2x2", "002_196d6f8ce929aaeb", "2x2 max pooling", "max_pool2d",
        (_nchw(_a([[12, 20, 30, 0], [8, 12, 2, 0], [34, 70, 37, 4], [112, 100, 25, 12]])),),
        _nchw(_a([[20, 30], [112, 37]])), _nchw(_a([[20, 30], [112, 37]]))),
    WorkedExample(
        "digit-6x6", "003_c20d6f5213730eac", "an X-shaped kernel slid over a 6x6 digit", "correlate2d",
        (_DIGIT_6x6, _X_KERNEL), _DIGIT_6x6_OUT, _with(_DIGIT_6x6_OUT, (1, 0), 1.9),
        erratum=("the slide's second row starts 1.9; that window (rows 1-3, columns 0-2) holds [[0.2, 0.8, 0], "
                 "[0.2, 0.9, 0], [0.3, 0.8, 0.7]], and the X kernel picks its four corners and its centre: "
                 "0.2 + 0 + 0.9 + 0.3 + 0.7 = 2.1")),
    WorkedExample(
        "emboss-patch", "004_96103fbaeb9961b5", "the emboss kernel on one 3x3 patch of a photograph", "correlate2d",
        (_a([[162, 125, 108], [177, 127, 98], [191, 135, 80]]), _a([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])),
        _a([[-106]]), _a([[-106]])),
)


def by_id(example_id: str) -> WorkedExample:
    """The worked example called ``example_id``; KeyError names the known ids."""
    for ex in EXAMPLES:
        if ex.id == example_id:
            return ex
    raise KeyError(f"no worked example {example_id!r}; known: {', '.join(e.id for e in EXAMPLES)}")
