"""reference.pool: the slides' pooling examples, PyTorch cross-checks over a grid, numerical gradients, input errors."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reference.gradcheck import numerical_gradient
from reference.pool import (
    avg_pool2d,
    avg_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
    sum_pool2d,
    sum_pool2d_backward,
)
from reference.torch_check import assert_close, to_numpy, to_torch

# Central differences in float64 with h = 1e-5 agree with an exact gradient to ~1e-10 relative.
GRAD_RTOL, GRAD_ATOL = 1e-6, 1e-8

SLIDE_001_POOL_IN = [[2, 3, 1, 9], [4, 7, 3, 5], [8, 2, 2, 2], [1, 3, 4, 5]]
SLIDE_001_BACKPROP_IN = [[0, 55, 0, 0], [20, 0, 41, 33], [0, 90, 0, 0], [0, 57, 0, 95]]
SLIDE_002_POOL_IN = [[12, 20, 30, 0], [8, 12, 2, 0], [34, 70, 37, 4], [112, 100, 25, 12]]

# (slide, function, 4x4 input, expected 2x2 output of a 2x2 window with stride 2)
SLIDE_EXAMPLES = [
    ("001 max pool", max_pool2d, SLIDE_001_POOL_IN, [[7, 9], [8, 5]]),
    # The slide prints 3.25 bottom-left; (8 + 2 + 1 + 3) / 4 = 3.5 (erratum, see test_slide_avg_pool_erratum).
    ("001 average pool", avg_pool2d, SLIDE_001_POOL_IN, [[4, 4.5], [3.5, 3.25]]),
    ("001 backprop max pool", max_pool2d, SLIDE_001_BACKPROP_IN, [[55, 41], [90, 95]]),
    ("002 2x2 max pool", max_pool2d, SLIDE_002_POOL_IN, [[20, 30], [112, 37]]),
    # 002 and 003 name sum pooling without an example: the window sums of the slides' own inputs.
    ("002 sum pool", sum_pool2d, SLIDE_002_POOL_IN, [[52, 32], [316, 78]]),
    ("001 sum pool", sum_pool2d, SLIDE_001_POOL_IN, [[16, 18], [14, 13]]),
]


def _nchw(rows):
    return np.array(rows)[None, None]


@pytest.mark.parametrize("slide, fn, x, want", SLIDE_EXAMPLES, ids=[e[0] for e in SLIDE_EXAMPLES])
def test_slide_examples(slide, fn, x, want):
    """Does each worked pooling example of the slides come out (2x2 window, stride 2)?"""
    out = fn(_nchw(x), size=2, stride=2)
    np.testing.assert_array_equal(out, _nchw(want), err_msg=slide)


def test_slide_avg_pool_erratum():
    """The slide's average pool prints 3.25 bottom-left: is the true window mean (8+2+1+3)/4 = 3.5 computed?"""
    slide_printed = _nchw([[4, 4.5], [3.25, 3.25]])
    out = avg_pool2d(_nchw(SLIDE_001_POOL_IN))
    assert out[0, 0, 1, 0] == (8 + 2 + 1 + 3) / 4
    assert not np.array_equal(out, slide_printed)


def test_slide_backprop_routing():
    """Does the slide's max-pool backprop send each window's gradient to the cell that held its maximum?"""
    dout = _nchw([[1.0, 2.0], [3.0, 4.0]])
    dx = max_pool2d_backward(dout, _nchw(SLIDE_001_BACKPROP_IN))
    want = np.zeros((1, 1, 4, 4))
    want[0, 0, 0, 1], want[0, 0, 1, 2], want[0, 0, 2, 1], want[0, 0, 3, 3] = 1, 2, 3, 4  # 55, 41, 90, 95
    np.testing.assert_array_equal(dx, want)


def test_tied_window_routes_to_first_maximum():
    """A window of four equal values: does all its gradient go to the top-left one (row-major first)?"""
    dx = max_pool2d_backward(np.full((1, 1, 1, 1), 5.0), np.zeros((1, 1, 2, 2)))
    np.testing.assert_array_equal(dx, _nchw([[5.0, 0.0], [0.0, 0.0]]))


# The grid of the PyTorch cross-check: windows (size, stride) include rectangles, overlaps (stride < size),
# gaps (stride > size) and sizes that leave rows/columns uncovered.
SHAPES_NC = [(1, 1), (1, 3), (4, 1), (4, 3)]
# (8, 6) is tiled exactly by the 2x2, 2x3 and 1x1 windows; (6, 9) and (7, 5) leave rows/columns no window reaches.
SHAPES_HW = [(6, 9), (7, 5), (8, 6)]
# stride None (= size) runs max pooling's tiled path (reference.pool._tiled_max), the others the offset views.
WINDOWS = [(2, None), (2, 1), (3, 2), ((2, 3), 1), ((2, 3), (1, 2)), ((3, 2), (2, 3)), (1, None), ((2, 3), None),
           (3, None)]
DTYPES = [np.float64, np.float32]
DATA = ["normal", "small_ints", "relu"]


def _data(kind, shape, dtype, rng):
    """Inputs of a given kind: 'small_ints' and 'relu' hold many tied maxima."""
    if kind == "small_ints":
        return rng.integers(0, 3, shape).astype(dtype)
    x = rng.standard_normal(shape).astype(dtype)
    return np.maximum(x, 0) if kind == "relu" else x


def _torch_pool(fn, x, dout, size, stride):
    """``fn`` applied to ``x`` by PyTorch: the forward output and autograd's ``dx`` for ``dout``."""
    xt = to_torch(x, requires_grad=True)
    out = fn(xt, kernel_size=size, stride=size if stride is None else stride)
    out.backward(to_torch(dout))
    return to_numpy(out), to_numpy(xt.grad)


def _grid(*axes):
    return list(itertools.product(*axes))


def _hw(v):
    return (v, v) if isinstance(v, int) else v


def _overlaps(size, stride):
    (kh, kw), (sh, sw) = _hw(size), _hw(size if stride is None else stride)
    return sh < kh or sw < kw


@pytest.mark.parametrize("nc, hw, window, dtype, kind", _grid(SHAPES_NC, SHAPES_HW, WINDOWS, DTYPES, DATA))
def test_max_pool_matches_torch(nc, hw, window, dtype, kind, rng):
    """Do max_pool2d and its backward agree with F.max_pool2d and autograd, ties included (first maximum wins)?"""
    (size, stride), x = window, _data(kind, nc + hw, dtype, rng)
    out = max_pool2d(x, size, stride)
    dout = rng.standard_normal(out.shape).astype(dtype)
    want_out, want_dx = _torch_pool(F.max_pool2d, x, dout, size, stride)
    dx = max_pool2d_backward(dout, x, size, stride)
    np.testing.assert_array_equal(out, want_out)  # a maximum is one of the inputs: exact
    if _overlaps(size, stride):
        assert_close(dx, want_dx, "max_pool2d_backward")  # sums of several windows' gradients: order may differ
    else:
        np.testing.assert_array_equal(dx, want_dx, err_msg="max_pool2d_backward routes differently from torch")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("window, hw", [(2, (47, 45)), (3, (47, 45)), ((2, 3), (47, 45)), (2, (46, 44))])
@pytest.mark.parametrize("kind", ["relu", "small_ints"])
def test_max_pool_in_blocks_of_images_matches_torch(window, hw, kind, dtype, rng):
    """With stride = size a batch is pooled in blocks of images (reference.pool._image_blocks): over several
    blocks and a shorter last one, odd sizes left uncovered, and 2x2 windows tiling the image exactly (the flat
    route, reference.pool._pair_maxima), do forward and backward still match torch exactly?"""
    from reference import pool

    x = _data(kind, (1, 5) + hw, dtype, rng)
    n = 2 * (pool._BLOCK_BYTES // x.nbytes) + 1                         # two whole blocks and a single image
    x = _data(kind, (n, 5) + hw, dtype, rng)
    assert pool._pairs(x, pool.pair(window, "size"), (hw[0] // 2, hw[1] // 2)) == (window == 2 and hw == (46, 44))
    assert len(pool._image_blocks(x)) == 3
    out = max_pool2d(x, window)
    dout = rng.standard_normal(out.shape).astype(dtype)
    want_out, want_dx = _torch_pool(F.max_pool2d, x, dout, window, None)
    np.testing.assert_array_equal(out, want_out)
    np.testing.assert_array_equal(max_pool2d_backward(dout, x, window), want_dx)


@pytest.mark.parametrize("nc, hw, window, dtype", _grid(SHAPES_NC, SHAPES_HW, WINDOWS, DTYPES))
def test_avg_and_sum_pool_match_torch(nc, hw, window, dtype, rng):
    """Do avg_pool2d / sum_pool2d and their backward agree with F.avg_pool2d (times the window area for sums)?"""
    (size, stride), x = window, _data("normal", nc + hw, dtype, rng)
    area = np.prod(_hw(size))
    dout = rng.standard_normal(avg_pool2d(x, size, stride).shape).astype(dtype)
    want_out, want_dx = _torch_pool(F.avg_pool2d, x, dout, size, stride)
    assert_close(avg_pool2d(x, size, stride), want_out, "avg_pool2d")
    assert_close(avg_pool2d_backward(dout, x, size, stride), want_dx, "avg_pool2d_backward")
    assert_close(sum_pool2d(x, size, stride), want_out * area, "sum_pool2d")
    assert_close(sum_pool2d_backward(dout, x, size, stride), want_dx * area, "sum_pool2d_backward")


GRAD_CASES = [
    (max_pool2d, max_pool2d_backward, 2, None),
    (max_pool2d, max_pool2d_backward, (2, 3), (1, 2)),
    (max_pool2d, max_pool2d_backward, 3, 1),
    (avg_pool2d, avg_pool2d_backward, 2, None),
    (avg_pool2d, avg_pool2d_backward, (3, 2), 1),
    (sum_pool2d, sum_pool2d_backward, 2, 1),
    (sum_pool2d, sum_pool2d_backward, (2, 3), (3, 2)),
]


@pytest.mark.parametrize("forward, backward, size, stride", GRAD_CASES)
def test_backward_matches_numerical_gradient(forward, backward, size, stride, rng):
    """Is each backward pass the central-difference gradient of its forward pass (float64)?"""
    # Distinct values 0.1 apart: a step of h = 1e-5 never changes which element is a window's maximum.
    x = (rng.permutation(2 * 3 * 5 * 6) * 0.1).reshape(2, 3, 5, 6)
    dout = rng.standard_normal(forward(x, size, stride).shape)
    dx = backward(dout, x, size, stride)
    want = numerical_gradient(lambda a: forward(a, size, stride), x, dout)
    np.testing.assert_allclose(dx, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)


FORWARDS = [max_pool2d, avg_pool2d, sum_pool2d]
BACKWARDS = [max_pool2d_backward, avg_pool2d_backward, sum_pool2d_backward]


@pytest.mark.parametrize("fn", FORWARDS + BACKWARDS)
@pytest.mark.parametrize("dtype, want", [(np.float32, np.float32), (np.float64, np.float64), (np.int64, np.float64)])
def test_dtype_follows_input(fn, dtype, want):
    """float32 in, float32 out; float64 and integers give float64?"""
    x = np.arange(32).reshape(1, 2, 4, 4).astype(dtype)
    args = (x,) if fn in FORWARDS else (np.ones((1, 2, 2, 2), dtype), x)
    assert fn(*args).dtype == want


BAD_FORWARD = [
    # (x, size, stride, error, words the message must contain)
    (np.zeros((4, 4)), 2, None, ValueError, ["x", "(4, 4)", "(N, C, H, W)"]),
    (np.zeros((1, 1, 4, 4), dtype=object), 2, None, TypeError, ["x", "object"]),
    ("image", 2, None, TypeError, ["x", "str"]),
    (np.zeros((1, 1, 4, 4)), 0, None, ValueError, ["size", "0"]),
    (np.zeros((1, 1, 4, 4)), 2.5, None, TypeError, ["size", "2.5"]),
    (np.zeros((1, 1, 4, 4)), (2, 2, 2), None, ValueError, ["size"]),
    (np.zeros((1, 1, 4, 4)), 2, -1, ValueError, ["stride", "-1"]),
    (np.zeros((1, 1, 4, 4)), 2, (1, 0), ValueError, ["stride[1]"]),
    (np.zeros((1, 1, 3, 8)), 4, None, ValueError, ["size", "(4, 4)", "(1, 1, 3, 8)"]),
    (np.zeros((1, 1, 8, 3)), (2, 4), None, ValueError, ["size", "(2, 4)", "(1, 1, 8, 3)"]),
]


@pytest.mark.parametrize("fn", FORWARDS)
@pytest.mark.parametrize("x, size, stride, error, words", BAD_FORWARD)
def test_forward_rejects_bad_input(fn, x, size, stride, error, words):
    """Is a bad input refused with an error naming the argument and its shape?"""
    with pytest.raises(error) as info:
        fn(x, size, stride)
    for word in words:
        assert word in str(info.value)


BAD_DOUT = [
    (np.zeros((1, 2, 3, 3)), ValueError, ["dout", "(1, 2, 3, 3)", "(1, 2, 2, 2)"]),
    (np.zeros((2, 2)), ValueError, ["dout", "(2, 2)"]),
    ([["a"]], TypeError, ["dout"]),
]


@pytest.mark.parametrize("fn", BACKWARDS)
@pytest.mark.parametrize("dout, error, words", BAD_DOUT)
def test_backward_rejects_bad_dout(fn, dout, error, words):
    """Is a dout that does not match the pooled shape refused, naming dout, its shape and the expected one?"""
    with pytest.raises(error) as info:
        fn(dout, np.zeros((1, 2, 4, 4)))
    for word in words:
        assert word in str(info.value)


def test_inputs_are_not_modified(rng):
    """Do the pooling functions leave x and dout untouched?"""
    x = rng.standard_normal((2, 3, 6, 6))
    dout = rng.standard_normal((2, 3, 5, 5))
    x0, dout0 = x.copy(), dout.copy()
    for fn in FORWARDS:
        fn(x, 2, 1)
    for fn in BACKWARDS:
        fn(dout, x, 2, 1)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dout, dout0)


def test_torch_sees_same_tie_rule():
    """Guard on the oracle itself: does torch route a tied window's gradient to its first element?"""
    xt = torch.zeros((1, 1, 2, 2), dtype=torch.float64, requires_grad=True)
    F.max_pool2d(xt, 2).sum().backward()
    assert xt.grad[0, 0, 0, 0] == 1 and xt.grad.sum() == 1


@pytest.mark.parametrize("dtype", DTYPES)
def test_flat_2x2_route_routes_like_the_planes_route(dtype, rng):
    """2x2 windows that tile the image take the flat route (reference.pool._pair_backward); one more column, left
    uncovered, sends the same windows through the planes route. With NaN, infinities, signed zeros and ties in
    every window, do both give the same output (signed zeros included) and send each gradient to the same element?"""
    from reference import pool

    values = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, 1.0, -2.0], dtype=dtype)
    x = rng.choice(values, size=(3, 4, 8, 10)).astype(dtype)
    wide = np.concatenate([x, rng.standard_normal((3, 4, 8, 1)).astype(dtype)], axis=3)
    assert pool._pairs(x, (2, 2), (4, 5)) and not pool._pairs(wide, (2, 2), (4, 5))
    dout = rng.standard_normal((3, 4, 4, 5)).astype(dtype)
    out, wide_out = max_pool2d(x), max_pool2d(wide)
    np.testing.assert_array_equal(out, wide_out)
    np.testing.assert_array_equal(np.signbit(out), np.signbit(wide_out))
    dx, wide_dx = max_pool2d_backward(dout, x), max_pool2d_backward(dout, wide)
    np.testing.assert_array_equal(dx, wide_dx[..., :10])
    assert np.count_nonzero(dx) == np.count_nonzero(dout)             # one element per window, nothing lost
