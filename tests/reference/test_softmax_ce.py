"""reference.softmax_ce: worked examples, stability on huge logits, PyTorch cross-checks, numerical gradients,
errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch.nn.functional as F

from reference.gradcheck import numerical_gradient
from reference.softmax_ce import cross_entropy, softmax, softmax_cross_entropy_backward
from reference.torch_check import assert_close, to_numpy, to_torch
from tests.helpers import assert_rejects

# Central differences in float64 with h = 1e-5 agree with an exact gradient to ~1e-10 relative.
GRAD_RTOL, GRAD_ATOL = 1e-6, 1e-8
# Worked examples are computed in float64 from closed forms: agreement to rounding.
EXAMPLE_RTOL = 1e-12

# Seed 003's "SoftMax for digit classification": ten digit scores in, ten probabilities out. Scores ln(91) for
# the digit 7 and 0 for the other nine give exp-weights 91 and 1, so the network is 91% sure of a 7 and 1% of
# each other digit; the loss of the label 7 is -ln(0.91), of any other label -ln(0.01) = ln(100).
DIGIT_SCORES = np.array([[0, 0, 0, 0, 0, 0, 0, math.log(91), 0, 0]])
DIGIT_PROBS = np.array([[0.01] * 7 + [0.91] + [0.01] * 2])


def test_digit_scores_example():
    """Do the ten digit scores become 0.91 for the 7 and 0.01 for every other digit?"""
    np.testing.assert_allclose(softmax(DIGIT_SCORES), DIGIT_PROBS, rtol=EXAMPLE_RTOL)


@pytest.mark.parametrize("label, want", [(7, -math.log(0.91)), (3, math.log(100))])
def test_digit_scores_loss(label, want):
    """Is the loss of a confident right answer small (-ln 0.91) and of a wrong one large (ln 100)?"""
    assert cross_entropy(DIGIT_SCORES, np.array([label])) == pytest.approx(want, rel=EXAMPLE_RTOL)


def test_probabilities_proportional_to_exp_scores():
    """Logits ln 1 .. ln 4: are the probabilities 1/10 .. 4/10, and unchanged when every logit moves by 1000?"""
    z = np.log([[1.0, 2.0, 3.0, 4.0]])
    want = np.array([[0.1, 0.2, 0.3, 0.4]])
    np.testing.assert_allclose(softmax(z), want, rtol=EXAMPLE_RTOL)
    np.testing.assert_allclose(softmax(z + 1000), want, rtol=1e-10)  # 1000 + ln k keeps ~1e-13 of ln k


def test_gradient_example():
    """dz of one sample is softmax(z) - onehot(y): the label's entry is p - 1, the others p?"""
    dz = softmax_cross_entropy_backward(DIGIT_SCORES, np.array([7]))
    np.testing.assert_allclose(dz, DIGIT_PROBS - np.eye(10)[[7]], rtol=EXAMPLE_RTOL, atol=1e-15)


# Logit batches for the PyTorch cross-check: (name, shape, scale, offset). They take every path of the shift:
# none ('small'), one for the whole array ('shifted': exp(1000) overflows), per row after an underflow ('huge'
# reaches 1e4, 'far rows' puts rows 300 apart, 'all negative' underflows float32 without a shift).
LOGITS = [
    ("one", (1, 1), 1.0, 0.0),
    ("small", (4, 10), 1.0, 0.0),
    ("wide", (3, 1000), 3.0, 0.0),
    ("tall", (1024, 10), 3.0, 0.0),
    ("shifted", (8, 5), 1.0, 1000.0),
    ("huge", (8, 5), 1e4, 0.0),
    ("all negative", (8, 5), 5.0, -300.0),
    ("far rows", (8, 5), 2.0, "rows"),
]
DTYPES = [np.float64, np.float32]


def _logits(shape, scale, offset, dtype, rng):
    z = rng.standard_normal(shape) * scale
    z += np.arange(shape[0])[:, None] * -300.0 if offset == "rows" else offset
    return z.astype(dtype)


@pytest.mark.parametrize("name, shape, scale, offset", LOGITS, ids=[c[0] for c in LOGITS])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_torch(name, shape, scale, offset, dtype, rng):
    """Do softmax, cross_entropy and its gradient agree with F.softmax, F.cross_entropy and autograd, finitely?"""
    z = _logits(shape, scale, offset, dtype, rng)
    y = rng.integers(0, shape[1], shape[0])
    zt = to_torch(z, requires_grad=True)
    loss = F.cross_entropy(zt, to_torch(y))
    loss.backward()
    p, got_loss, dz = softmax(z), cross_entropy(z, y), softmax_cross_entropy_backward(z, y)
    assert np.isfinite(p).all() and np.isfinite(got_loss) and np.isfinite(dz).all()
    assert_close(p, to_numpy(F.softmax(zt, dim=-1)), "softmax")
    assert_close(np.array(got_loss), to_numpy(loss), "cross_entropy")
    assert_close(dz, to_numpy(zt.grad), "softmax_cross_entropy_backward")


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_over_last_axis_of_any_shape(dtype, rng):
    """Does softmax work row-wise over the last axis of a 3-D array, like F.softmax(dim=-1)?"""
    z = rng.standard_normal((2, 3, 7)).astype(dtype)
    assert_close(softmax(z), to_numpy(F.softmax(to_torch(z), dim=-1)), "softmax 3-D")


def test_loss_stays_finite_where_log_softmax_fails():
    """A label with probability e^-2000: is the loss 2000 (finite), where log(softmax) would give inf?"""
    z = np.array([[1000.0, -1000.0]])
    assert cross_entropy(z, np.array([1])) == pytest.approx(2000.0, rel=EXAMPLE_RTOL)


def test_backward_matches_numerical_gradient(rng):
    """Is softmax_cross_entropy_backward the central-difference gradient of cross_entropy (float64)?"""
    z = rng.standard_normal((4, 6)) * 3
    y = rng.integers(0, 6, 4)
    want = numerical_gradient(lambda a: cross_entropy(a, y), z, np.float64(1.0))
    np.testing.assert_allclose(softmax_cross_entropy_backward(z, y), want, rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_softmax_jacobian_matches_numerical_gradient(rng):
    """Is softmax differentiable as p * (dout - sum(p * dout)) (its Jacobian-vector product)?"""
    z = rng.standard_normal((3, 5))
    dout = rng.standard_normal((3, 5))
    p = softmax(z)
    want = p * (dout - np.sum(p * dout, axis=-1, keepdims=True))
    np.testing.assert_allclose(numerical_gradient(softmax, z, dout), want, rtol=GRAD_RTOL, atol=GRAD_ATOL)


@pytest.mark.parametrize("dtype, want", [(np.float32, np.float32), (np.float64, np.float64), (np.int64, np.float64)])
def test_dtype_follows_input(dtype, want):
    """float32 logits give float32 probabilities, loss and gradient; float64 and integers give float64?"""
    z, y = np.arange(12).reshape(3, 4).astype(dtype), np.array([0, 1, 3])
    assert softmax(z).dtype == want
    assert np.asarray(cross_entropy(z, y)).dtype == want
    assert softmax_cross_entropy_backward(z, y).dtype == want


def test_inputs_are_not_modified(rng):
    """Do the functions leave z untouched (they work in place on their own buffers only)?"""
    z = rng.standard_normal((5, 4)) * 100
    z0 = z.copy()
    softmax(z), cross_entropy(z, np.zeros(5, int)), softmax_cross_entropy_backward(z, np.zeros(5, int))
    np.testing.assert_array_equal(z, z0)


Z = np.zeros((2, 3))
BAD_INPUTS = [
    # (function, args, error, words the message must contain)
    (softmax, ("z",), TypeError, ["z", "str"]),
    (softmax, (np.zeros((2, 0)),), ValueError, ["z", "(2, 0)"]),
    (softmax, (np.array([[1.0, np.nan]]),), ValueError, ["z", "NaN", "(1, 2)"]),
    (softmax, (np.array([[1.0, np.inf]]),), ValueError, ["z", "inf", "(1, 2)"]),
    (cross_entropy, (np.zeros(3), np.array([0])), ValueError, ["z", "(3,)", "(N, K)"]),
    (cross_entropy, (Z, np.array([0.0, 1.0])), TypeError, ["y", "float64", "(2,)"]),
    (cross_entropy, (Z, np.array([True, False])), TypeError, ["y", "bool"]),
    (cross_entropy, (Z, np.array([[0], [1]])), ValueError, ["y", "(2, 1)", "(N,)"]),
    (cross_entropy, (Z, np.array([0, 1, 2])), ValueError, ["y", "(3,)", "(2,)"]),
    (cross_entropy, (Z, np.array([0, 3])), ValueError, ["y", "[0, 3)", "(2, 3)"]),
    (cross_entropy, (Z, np.array([-1, 0])), ValueError, ["y", "[0, 3)"]),
    (cross_entropy, (np.zeros((0, 3)), np.zeros(0, int)), ValueError, ["z", "(0, 3)"]),
    (softmax_cross_entropy_backward, (Z, np.array([0, 3])), ValueError, ["y", "[0, 3)", "(2, 3)"]),
    (softmax_cross_entropy_backward, (Z, [0.5, 1]), TypeError, ["y", "float64"]),
]


@pytest.mark.parametrize("fn, args, error, words", BAD_INPUTS,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(BAD_INPUTS)])
def test_rejects_bad_input(fn, args, error, words):
    """Is a bad input refused with an error naming the argument and its shape?"""
    assert_rejects(fn, args, error, words)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("z", [[1.0, 2.0, 3.0], [1e4, 0.0, -1e4]])
def test_softmax_of_a_single_vector_matches_torch(z, dtype):
    """Does softmax accept one vector of logits (K,), as its docstring promises, huge logits included?"""
    import torch

    z = np.array(z, dtype=dtype)
    want = torch.softmax(torch.from_numpy(z), dim=-1).numpy()
    got = softmax(z)
    assert got.shape == z.shape and got.dtype == z.dtype
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
