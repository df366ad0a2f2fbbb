"""reference.layers: the slides' ReLU example, PyTorch cross-checks, numerical gradients, input errors, dtypes."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reference.gradcheck import numerical_gradient
from reference.layers import dense_backward, dense_forward, flatten, flatten_backward, relu, relu_backward
from reference.torch_check import assert_close, to_numpy, to_torch
from tests.helpers import assert_rejects

# Central differences in float64 with h = 1e-5 agree with an exact gradient to ~1e-10 relative.
GRAD_RTOL, GRAD_ATOL = 1e-6, 1e-8

SLIDE_001_RELU_IN = [[1, 14, -9, 4], [-2, -20, 10, 6], [-3, 3, 11, 1], [2, 54, -2, 80]]
SLIDE_001_RELU_OUT = [[1, 14, 0, 4], [0, 0, 10, 6], [0, 3, 11, 1], [2, 54, 0, 80]]

DTYPES = [np.float64, np.float32]
SHAPES = [(1, 1), (4, 7), (1, 3, 5, 6), (4, 3, 7, 5)]


def test_slide_relu_example():
    """Does the slides' 4x4 ReLU example (seed 001) come out: negatives to 0, positives kept?"""
    np.testing.assert_array_equal(relu(np.array(SLIDE_001_RELU_IN)), np.array(SLIDE_001_RELU_OUT))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_matches_torch(shape, dtype, rng):
    """Do relu and relu_backward agree with torch.relu and autograd, exact zeros in x included?"""
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[::3] = 0  # torch's gradient at exactly 0 is 0
    dout = rng.standard_normal(shape).astype(dtype)
    xt = to_torch(x, requires_grad=True)
    out = torch.relu(xt)
    out.backward(to_torch(dout))
    np.testing.assert_array_equal(relu(x), to_numpy(out))
    np.testing.assert_array_equal(relu_backward(dout, x), to_numpy(xt.grad))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_flatten_matches_torch(shape, dtype, rng):
    """Does flatten keep axis 0 and order the rest like torch.flatten(x, 1), and flatten_backward undo it?"""
    x = rng.standard_normal(shape).astype(dtype)
    dout = rng.standard_normal((shape[0], int(np.prod(shape[1:])))).astype(dtype)
    xt = to_torch(x, requires_grad=True)
    out = torch.flatten(xt, 1)
    out.backward(to_torch(dout))
    np.testing.assert_array_equal(flatten(x), to_numpy(out))
    np.testing.assert_array_equal(flatten_backward(dout, x.shape), to_numpy(xt.grad))


DENSE_SHAPES = [(1, 1, 1), (1, 5, 3), (4, 7, 10), (16, 64, 10)]  # (N, D, M)


@pytest.mark.parametrize("n, d, m", DENSE_SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_matches_torch(n, d, m, dtype, rng):
    """Do dense_forward and dense_backward agree with F.linear (weights transposed) and autograd?"""
    x, w, b, dout = (rng.standard_normal(s).astype(dtype) for s in [(n, d), (d, m), (m,), (n, m)])
    xt, wt, bt = (to_torch(a, requires_grad=True) for a in (x, w, b))
    out = F.linear(xt, wt.T, bt)
    out.backward(to_torch(dout))
    assert_close(dense_forward(x, w, b), to_numpy(out), "dense_forward")
    for got, want, what in zip(dense_backward(dout, x, w), (xt, wt, bt), ("dx", "dw", "db"), strict=True):
        assert_close(got, to_numpy(want.grad), f"dense_backward {what}")


def test_relu_backward_matches_numerical_gradient(rng):
    """Is relu_backward the central-difference gradient of relu (x kept away from the kink at 0)?"""
    x = rng.standard_normal((2, 3, 4, 5))
    x += np.sign(x) * 0.1
    dout = rng.standard_normal(x.shape)
    np.testing.assert_allclose(
        relu_backward(dout, x), numerical_gradient(relu, x, dout), rtol=GRAD_RTOL, atol=GRAD_ATOL
    )


def test_flatten_backward_matches_numerical_gradient(rng):
    """Is flatten_backward the central-difference gradient of flatten?"""
    x = rng.standard_normal((2, 3, 2, 4))
    dout = rng.standard_normal((2, 24))
    np.testing.assert_allclose(
        flatten_backward(dout, x.shape), numerical_gradient(flatten, x, dout), rtol=GRAD_RTOL, atol=GRAD_ATOL
    )


def test_dense_backward_matches_numerical_gradient(rng):
    """Are dx, dw and db the central-difference gradients of dense_forward in x, w and b?"""
    x, w, b, dout = (rng.standard_normal(s) for s in [(3, 5), (5, 4), (4,), (3, 4)])
    dx, dw, db = dense_backward(dout, x, w)
    numeric = [
        numerical_gradient(lambda a: dense_forward(a, w, b), x, dout),
        numerical_gradient(lambda a: dense_forward(x, a, b), w, dout),
        numerical_gradient(lambda a: dense_forward(x, w, a), b, dout),
    ]
    for got, want in zip((dx, dw, db), numeric, strict=True):
        np.testing.assert_allclose(got, want, rtol=GRAD_RTOL, atol=GRAD_ATOL)


def _layer_calls(dtype):
    """Every function of the module called on arrays of ``dtype``: (name, result arrays)."""
    x4 = np.arange(24).reshape(2, 3, 2, 2).astype(dtype)
    x, w, b, dout = (np.ones(s, dtype) for s in [(2, 3), (3, 4), (4,), (2, 4)])
    return [
        ("relu", [relu(x4)]),
        ("relu_backward", [relu_backward(x4, x4)]),
        ("flatten", [flatten(x4)]),
        ("flatten_backward", [flatten_backward(np.ones((2, 12), dtype), x4.shape)]),
        ("dense_forward", [dense_forward(x, w, b)]),
        ("dense_backward", list(dense_backward(dout, x, w))),
    ]


@pytest.mark.parametrize("dtype, want", [(np.float32, np.float32), (np.float64, np.float64), (np.int32, np.float64)])
def test_dtype_follows_input(dtype, want):
    """float32 in, float32 out; float64 and integers give float64?"""
    for name, results in _layer_calls(dtype):
        assert all(r.dtype == want for r in results), name


def test_mixed_float_dtypes_promote():
    """float32 data with float64 weights: float64 out, like NumPy's promotion?"""
    x, w, b = np.ones((2, 3), np.float32), np.ones((3, 4)), np.ones(4, np.float32)
    assert dense_forward(x, w, b).dtype == np.float64
    assert all(g.dtype == np.float64 for g in dense_backward(np.ones((2, 4), np.float32), x, w))


Z = np.zeros
BAD_INPUTS = [
    # (function, args, error, words the message must contain)
    (relu, ("x",), TypeError, ["x", "str"]),
    (relu, (np.array(["a"]),), TypeError, ["x", "<U1"]),
    (relu_backward, (Z((2, 3)), Z((3, 2))), ValueError, ["dout", "(2, 3)", "x", "(3, 2)"]),
    (flatten, (Z(5),), ValueError, ["x", "(5,)"]),
    (flatten_backward, (Z((2, 6)), (2, 3, 3)), ValueError, ["dout", "(2, 6)", "x_shape", "(2, 3, 3)"]),
    (flatten_backward, (Z((2, 6, 1)), (2, 6)), ValueError, ["dout", "(2, 6, 1)"]),
    (flatten_backward, (Z((2, 6)), "2x6"), TypeError, ["x_shape", "2x6"]),
    (flatten_backward, (Z((2, 6)), (2, -6)), TypeError, ["x_shape", "-6"]),
    (dense_forward, (Z(3), Z((3, 4)), Z(4)), ValueError, ["x", "(3,)", "(N, D)"]),
    (dense_forward, (Z((2, 3)), Z((4, 4)), Z(4)), ValueError, ["w", "(4, 4)", "(2, 3)"]),
    (dense_forward, (Z((2, 3)), Z((3, 4)), Z(5)), ValueError, ["b", "(5,)", "(3, 4)"]),
    (dense_forward, (Z((2, 3)), Z((3, 4)), Z((1, 4))), ValueError, ["b", "(1, 4)"]),
    (dense_backward, (Z((2, 5)), Z((2, 3)), Z((3, 4))), ValueError, ["dout", "(2, 5)", "(2, 4)"]),
    (dense_backward, (Z((2, 4)), Z((2, 3)), Z(3)), ValueError, ["w", "(3,)", "(D, M)"]),
]


@pytest.mark.parametrize("fn, args, error, words", BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(BAD_INPUTS)])
def test_rejects_bad_input(fn, args, error, words):
    """Is a bad input refused with an error naming the argument and its shape?"""
    assert_rejects(fn, args, error, words)
