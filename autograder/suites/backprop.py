"""Cases of the ``backprop`` assignment: numerical gradients and every backward pass.
Totals: 5 points per function, 10 for conv2d_backward, max_pool2d_backward and dense_backward."""
from __future__ import annotations

from typing import Any

import numpy as np

from autograder.student.convkit_check import CALLABLES
from autograder.assignment import Assignment
from autograder.suites import case
from reference.slides import by_id

# Central differences agree with the exact gradient to ~1e-10 relative; a forward difference is off by ~h.
NUMERIC_RTOL, NUMERIC_ATOL = 1e-6, 1e-8
_DXDWDB = ("dx", "dw", "db")


def _r(rng, *shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def _ties(rng, *shape):
    return np.maximum(rng.integers(-2, 3, shape), 0).astype(np.float64)


def _conv(cid, rng, n, c, h, w, f, kh, kw, stride=1, pad=0, public=False, dtype=np.float64, points=1.0):
    from reference.conv import output_size
    (sh, sw), (ph, pw) = [(v, v) if isinstance(v, int) else v for v in (stride, pad)]
    ho, wo = output_size(h, kh, sh, ph), output_size(w, kw, sw, pw)
    return case("conv2d_backward", cid, _r(rng, n, f, ho, wo, dtype=dtype), _r(rng, n, c, h, w, dtype=dtype),
                _r(rng, f, c, kh, kw, dtype=dtype), stride=stride, pad=pad, public=public, output_names=_DXDWDB,
                points=points)


def _pool_dout(rng, x, size, stride=None):
    from reference.pool import max_pool2d
    return _r(rng, *max_pool2d(x, size, stride).shape, dtype=x.dtype)


def _grad(cid, name, x, rng, out_shape, public=False, points=1.0):
    return case("numerical_gradient", cid, CALLABLES[name], x, _r(rng, *out_shape), public=public, points=points,
                rtol=NUMERIC_RTOL, atol=NUMERIC_ATOL)


def cases():
    rng = np.random.default_rng(3)
    out = [
        _grad("square", "square", _r(rng, 3, 4), rng, (3, 4), public=True),
        _grad("sin", "sin", _r(rng, 2, 3, 2), rng, (2, 3, 2)),
        _grad("cube-rows", "cube_sum_rows", _r(rng, 4, 3), rng, (4,)),
        _grad("matmul", "matmul_fixed", _r(rng, 2, 3), rng, (2, 4), points=0.5),
        _grad("exp-normalised", "exp_normalised", _r(rng, 5), rng, (5,)),
    ]
    x = _r(rng, 3, 4)
    out += [
        case("relu_backward", "matrix", _r(rng, 3, 4), x, public=True),
        case("relu_backward", "nchw", _r(rng, 2, 3, 4, 4), _r(rng, 2, 3, 4, 4)),
        case("relu_backward", "float32", _r(rng, 2, 5, dtype=np.float32), _r(rng, 2, 5, dtype=np.float32),
             points=0.5),
        case("relu_backward", "all-negative", _r(rng, 6), -np.abs(_r(rng, 6)) - 0.1, points=0.5),
        case("relu_backward", "bad-shapes", _r(rng, 3, 4), _r(rng, 4, 3), kind="raises", raises=("ValueError",),
             points=0.5),
    ]
    out += [
        _conv("single-3x3-pad1", rng, 1, 1, 5, 5, 1, 3, 3, pad=1, public=True),
        _conv("batch-rgb", rng, 2, 3, 5, 6, 2, 3, 3, public=True),
        _conv("stride2-pad1", rng, 2, 2, 7, 7, 3, 3, 3, stride=2, pad=1, public=True),
        _conv("rect-stride-pad", rng, 2, 3, 6, 9, 4, 2, 3, stride=(1, 2), pad=(1, 2)),
        _conv("float32", rng, 4, 3, 6, 6, 2, 3, 3, pad=1, dtype=np.float32, points=0.5),
        _conv("one-by-one", rng, 3, 3, 4, 5, 5, 1, 1),
        _conv("kernel-fills-padded", rng, 2, 1, 3, 4, 2, 5, 6, pad=1),
        _conv("stride-over-kernel", rng, 2, 3, 9, 8, 2, 2, 2, stride=3, pad=2),
        _conv("digits-conv2", rng, 2, 4, 4, 4, 3, 5, 5, pad=2),
        case("conv2d_backward", "bad-dout-shape", _r(rng, 1, 2, 4, 4), _r(rng, 1, 1, 5, 5), _r(rng, 2, 1, 3, 3),
             kind="raises", raises=("ValueError",)),
    ]
    slide = by_id("max-pool-backprop").args[0]
    tie = np.array([[[[1.0, 3, 3, 0], [3, 2, 0, 0], [5, 5, 1, 4], [5, 5, 4, 1]]]])
    mp = []
    max_pools: list[tuple[str, np.ndarray, dict[str, Any], bool]] = [
        ("slide-4x4", slide, {}, True), ("ties", tie, {}, True), ("relu-ties", _ties(rng, 2, 2, 4, 6), {}, True),
        ("batch-channels", _r(rng, 2, 3, 6, 8), {}, False), ("overlap-ties", _ties(rng, 1, 2, 5, 5),
                                                              {"size": 3, "stride": 1}, False),
        ("overlap-stride2", _r(rng, 1, 2, 5, 7), {"size": 3, "stride": 2}, False),
        ("rect-window-ties", _ties(rng, 2, 1, 6, 6), {"size": (2, 3)}, False),
        ("float32", _r(rng, 2, 2, 4, 4, dtype=np.float32), {}, False),
        ("all-equal", np.ones((1, 2, 4, 4)), {}, False)]
    for cid, xx, kw, public in max_pools:
        mp.append(case("max_pool2d_backward", cid, _pool_dout(rng, xx, kw.get("size", 2), kw.get("stride")), xx,
                       public=public, points=0.5 if cid in ("all-equal", "float32") else 1.0, **kw))
    mp.append(case("max_pool2d_backward", "bad-dout-shape", _r(rng, 1, 1, 3, 3), _r(rng, 1, 1, 4, 4),
                   kind="raises", raises=("ValueError",)))
    out += mp
    avg_pools: list[tuple[str, np.ndarray, dict[str, Any], bool]] = [
        ("slide-4x4", by_id("avg-pool-4x4").args[0], {}, True), ("batch-channels", _r(rng, 2, 3, 6, 6), {}, False),
        ("size3-stride2", _r(rng, 1, 2, 5, 7), {"size": 3, "stride": 2}, False),
        ("overlap-stride1", _r(rng, 2, 1, 3, 4), {"size": 2, "stride": 1}, False),
        ("float32", _r(rng, 1, 2, 4, 6, dtype=np.float32), {}, False)]
    for cid, xx, kw, public in avg_pools:
        out.append(case("avg_pool2d_backward", cid, _pool_dout(rng, xx, kw.get("size", 2), kw.get("stride")), xx,
                        public=public, points=0.5 if cid == "float32" else 1.0, **kw))
    out += [
        case("flatten_backward", "batch", _r(rng, 2, 12), (2, 3, 2, 2), public=True),
        case("flatten_backward", "single", _r(rng, 1, 1), (1, 1, 1, 1)),
        case("flatten_backward", "float32", _r(rng, 4, 30, dtype=np.float32), (4, 2, 3, 5), points=0.5),
        case("flatten_backward", "digits-features", _r(rng, 3, 144), (3, 36, 2, 2)),
        case("flatten_backward", "bad-size", _r(rng, 2, 10), (2, 3, 2, 2), kind="raises", raises=("ValueError",)),
    ]
    dense = [("rect", 2, 3, 4, True), ("square", 3, 4, 4, True), ("digits-head", 5, 6, 3, False),
             ("batch-of-one", 1, 5, 2, False), ("wide", 6, 2, 7, False), ("tall", 4, 9, 3, False),
             ("float32", 3, 8, 8, False), ("many", 8, 5, 5, False), ("square-batch", 4, 4, 4, False)]
    for cid, n, d, m, public in dense:
        dtype = np.float32 if cid == "float32" else np.float64
        out.append(case("dense_backward", cid, _r(rng, n, m, dtype=dtype), _r(rng, n, d, dtype=dtype),
                        _r(rng, d, m, dtype=dtype), public=public, output_names=_DXDWDB,
                        points=0.5 if cid == "float32" else 1.0))
    out.append(case("dense_backward", "bad-dout-shape", _r(rng, 2, 3), _r(rng, 2, 4), _r(rng, 4, 5),
                    kind="raises", raises=("ValueError",)))
    out += [
        case("softmax_cross_entropy_backward", "small", _r(rng, 3, 4), np.array([0, 3, 1]), public=True),
        case("softmax_cross_entropy_backward", "ten-classes", _r(rng, 8, 10), rng.integers(0, 10, 8)),
        case("softmax_cross_entropy_backward", "huge-logits", 800 * _r(rng, 4, 5), np.array([4, 0, 2, 2])),
        case("softmax_cross_entropy_backward", "float32", _r(rng, 6, 3, dtype=np.float32),
             np.array([0, 1, 2, 2, 1, 0]), points=0.5),
        case("softmax_cross_entropy_backward", "bad-label", _r(rng, 2, 3), np.array([0, -1]), kind="raises",
             raises=("ValueError",)),
    ]
    return out + _added_cases() + _public_float32()


def _added_cases():
    """Rows added for mistakes real submissions made (autograder.mistakes); their own generator, so the rows above
    keep their inputs."""
    rng = np.random.default_rng(31)
    x_pool = _r(rng, 1, 2, 4, 5)
    relu_out = np.maximum(np.round(_r(rng, 2, 3, 3, 3)), 0)  # a ReLU's output, fed on: many exact zeros
    return [
        # f couples the elements of x, so an x left nudged changes every later element's gradient.
        _grad("exp-normalised-matrix", "exp_normalised", _r(rng, 2, 3), rng, (2, 3), public=True, points=0.5),
        # The convention at exactly x = 0: the gradient is 0 there (the docstring says so, like PyTorch).
        case("relu_backward", "exact-zeros", _r(rng, 3, 4), np.array([[0.0, 1.5, -2.0, 0.0], [0.0, 0.0, 3.0, -1.0],
                                                                     [2.0, 0.0, -0.5, 0.0]]), points=0.5, public=True),
        case("relu_backward", "relu-output", _r(rng, *relu_out.shape), relu_out, points=0.5),
        # Overlapping windows (stride 1): neighbouring windows often share their maximum, which collects both.
        case("max_pool2d_backward", "overlap-stride1", _pool_dout(rng, x_pool, 2, 1), x_pool, size=2, stride=1,
             points=0.5, public=True),
    ]


def _public_float32():
    """A public float32 case for each backward pass (float32 in, float32 out, every output of a tuple), so the
    self-check shows the dtype rule before the hidden float32 cases grade it. Their own generator: the other cases
    keep their inputs; their points come from the hidden float32 case of the same function (totals unchanged)."""
    rng = np.random.default_rng(103)
    f32 = np.float32
    x_pool = _r(rng, 1, 2, 4, 4, dtype=f32)
    return [
        case("relu_backward", "small-float32", _r(rng, 3, 4, dtype=f32), _r(rng, 3, 4, dtype=f32), points=0.5,
             public=True),
        _conv("small-float32", rng, 2, 2, 4, 4, 2, 3, 3, pad=1, public=True, dtype=f32, points=0.5),
        case("max_pool2d_backward", "small-float32", _pool_dout(rng, x_pool, 2), x_pool, points=0.5, public=True),
        case("avg_pool2d_backward", "small-float32", _pool_dout(rng, x_pool, 2), x_pool, points=0.5, public=True),
        case("flatten_backward", "small-float32", _r(rng, 2, 12, dtype=f32), (2, 3, 2, 2), points=0.5, public=True),
        case("dense_backward", "small-float32", _r(rng, 2, 4, dtype=f32), _r(rng, 2, 3, dtype=f32),
             _r(rng, 3, 4, dtype=f32), public=True, output_names=_DXDWDB, points=0.5),
        case("softmax_cross_entropy_backward", "small-float32", _r(rng, 3, 4, dtype=f32), np.array([1, 0, 3]),
             points=0.5, public=True),
    ]


ASSIGNMENT = Assignment("backprop", "Backpropagation: the gradient of every layer", cases)


# What each public case is, in the words of its report (suites.cases_for fills a case's empty description from it).
_FLOAT32 = "float32 inputs: every gradient must be float32 too"
DESCRIPTIONS = {
    ("numerical_gradient", "square"): "f(x) = x * x on a 3x4 array: the gradient is 2 * x * dout",
    ("numerical_gradient", "exp-normalised-matrix"): "f(x) = exp(x) / sum(exp(x)): every output depends on every "
                                                     "element of x (put each nudged element back)",
    ("relu_backward", "matrix"): "a 3x4 matrix: dout flows back where x > 0",
    ("relu_backward", "exact-zeros"): "x exactly 0 in places: the gradient there is 0 (the docstring's convention)",
    ("relu_backward", "small-float32"): _FLOAT32,
    ("conv2d_backward", "single-3x3-pad1"): "one 5x5 image, one 3x3 filter, padding 1",
    ("conv2d_backward", "batch-rgb"): "2 RGB images, 2 filters, no padding",
    ("conv2d_backward", "stride2-pad1"): "2 images of 2 channels, 3 filters, stride 2, padding 1",
    ("conv2d_backward", "small-float32"): _FLOAT32,
    ("max_pool2d_backward", "slide-4x4"): "deck 001's 4x4 map: each window's gradient goes back to its maximum",
    ("max_pool2d_backward", "ties"): "windows that hold their maximum twice: the gradient goes to the first one "
                                     "in row-major order",
    ("max_pool2d_backward", "relu-ties"): "maps after a ReLU, with many tied zeros: one element per window gets "
                                          "the gradient",
    ("max_pool2d_backward", "overlap-stride1"): "2x2 windows with stride 1: an element that is the maximum of "
                                                "several windows collects each one's gradient",
    ("max_pool2d_backward", "small-float32"): _FLOAT32,
    ("avg_pool2d_backward", "slide-4x4"): "deck 001's 4x4 map: each window shares its gradient evenly among its "
                                          "4 cells",
    ("avg_pool2d_backward", "small-float32"): _FLOAT32,
    ("flatten_backward", "batch"): "2 rows of 12 back to the shape (2, 3, 2, 2)",
    ("flatten_backward", "small-float32"): _FLOAT32,
    ("dense_backward", "rect"): "2 rows of 3 features, 4 outputs",
    ("dense_backward", "square"): "3 rows of 4 features and a square 4x4 weight matrix (w.T has the same shape)",
    ("dense_backward", "small-float32"): _FLOAT32,
    ("softmax_cross_entropy_backward", "small"): "3 rows of 4 logits and their labels",
    ("softmax_cross_entropy_backward", "small-float32"): _FLOAT32,
}
