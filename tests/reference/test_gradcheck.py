"""reference.gradcheck: central differences against known analytic gradients, restoring x, input errors."""
from __future__ import annotations

import numpy as np
import pytest

from reference.gradcheck import numerical_gradient

# Central differences in float64 with h = 1e-5: O(h^2) truncation plus O(eps / h) rounding, ~1e-10 relative.
GRAD_RTOL, GRAD_ATOL = 1e-7, 1e-9

_A = np.random.default_rng(7).standard_normal((4, 3))

# (name, f, analytic gradient of sum(f(x) * dout) as a function of (x, dout), shape of x)
KNOWN = [
    ("square", lambda x: x**2, lambda x, d: 2 * x * d, (2, 3, 4, 5)),
    ("cube", lambda x: x**3, lambda x, d: 3 * x**2 * d, (6,)),
    ("sin", np.sin, lambda x, d: np.cos(x) * d, (3, 4)),
    ("linear map", lambda x: _A @ x, lambda x, d: _A.T @ d, (3, 2)),
    ("row products", lambda x: x.prod(axis=1), lambda x, d: x.prod(axis=1, keepdims=True) / x * d[:, None], (4, 3)),
]


@pytest.mark.parametrize("name, f, grad, shape", KNOWN, ids=[k[0] for k in KNOWN])
def test_matches_analytic_gradient(name, f, grad, shape, rng):
    """Does the central difference of sum(f(x) * dout) match the gradient known in closed form?"""
    x = rng.uniform(0.5, 2.0, shape)
    dout = rng.standard_normal(np.shape(f(x)))
    np.testing.assert_allclose(numerical_gradient(f, x, dout), grad(x, dout), rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_scalar_function():
    """A scalar f with a scalar dout: is the gradient of 3 * sum(x**2) equal to 6x?"""
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    got = numerical_gradient(lambda a: np.sum(a**2), x, 3.0)
    np.testing.assert_allclose(got, 6 * x, rtol=GRAD_RTOL, atol=GRAD_ATOL)


def test_x_is_restored_bit_for_bit(rng):
    """After the check, does x hold exactly its old values (perturbed in place, then put back)?"""
    x = rng.standard_normal((3, 4))
    x0 = x.copy()
    numerical_gradient(np.tanh, x, np.ones((3, 4)))
    np.testing.assert_array_equal(x, x0)


def test_x_is_restored_when_f_raises():
    """If f fails midway, is the element being perturbed put back before the error propagates?"""
    x = np.array([1.0, 2.0, 3.0])
    calls = []

    def f(a):
        calls.append(a.copy())
        if len(calls) == 4:  # first call checks the shape; fails on the second element's +h
            raise RuntimeError("boom")
        return a

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, x, np.ones(3))
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


def test_non_contiguous_x(rng):
    """A transposed view as x: does f see each perturbation (the gradient of x**2 is 2x, not 0)?"""
    x = rng.standard_normal((3, 5)).T
    np.testing.assert_allclose(numerical_gradient(lambda a: a**2, x, np.ones((5, 3))), 2 * x, rtol=GRAD_RTOL)


def test_step_matters():
    """With a large h the truncation error of x**3 shows (h^2 = 1e-2): is h actually used?"""
    x = np.array([1.0])
    got = numerical_gradient(lambda a: a**3, x, np.ones(1), h=0.1)
    assert got[0] == pytest.approx(3.0 + 0.1**2, rel=1e-12)  # ((x+h)^3 - (x-h)^3) / 2h = 3x^2 + h^2


BAD_INPUTS = [
    # (f, x, dout, h, error, words the message must contain)
    ("f", np.ones(2), np.ones(2), 1e-5, TypeError, ["f", "callable"]),
    (np.sin, np.ones(2, np.float32), np.ones(2), 1e-5, TypeError, ["x", "float32", "(2,)"]),
    (np.sin, np.ones(2, int), np.ones(2), 1e-5, TypeError, ["x", "int64", "(2,)"]),
    (np.sin, np.ones((2, 3)), np.ones((3, 2)), 1e-5, ValueError, ["dout", "(3, 2)", "(2, 3)"]),
    (np.sin, np.ones(2), "ones", 1e-5, TypeError, ["dout"]),
    (np.sin, np.ones(2), np.ones(2), 0.0, ValueError, ["h", "0.0"]),
    (np.sin, np.ones(2), np.ones(2), "1e-5", TypeError, ["h"]),
    (lambda a: ["x"], np.ones(2), np.ones(2), 1e-5, TypeError, ["f(x)"]),
]


@pytest.mark.parametrize("f, x, dout, h, error, words", BAD_INPUTS)
def test_rejects_bad_input(f, x, dout, h, error, words):
    """Is a bad input refused with an error naming the argument and its shape?"""
    with pytest.raises(error) as info:
        numerical_gradient(f, x, dout, h)
    for word in words:
        assert word in str(info.value)


def test_rejects_read_only_x():
    """A read-only x cannot be perturbed in place: is that said up front?"""
    x = np.ones((2, 2))
    x.flags.writeable = False
    with pytest.raises(ValueError, match=r"x must be writeable.*\(2, 2\)"):
        numerical_gradient(np.sin, x, np.ones((2, 2)))
