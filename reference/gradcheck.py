"""Numerical gradients by central differences: the independent check of every hand-written backward pass.

For a layer ``out = f(x)`` and an upstream gradient ``dout`` of the shape of ``out``, the backward pass returns
the gradient of the scalar ``L = sum(f(x) * dout)`` with respect to ``x``. Nudging one element of ``x`` by
``+h`` and ``-h`` gives ``dL/dx[i] ~ (L(x + h e_i) - L(x - h e_i)) / (2 h)``, with error ``O(h^2)`` from the
Taylor series plus ``O(eps / h)`` from rounding; ``h = 1e-5`` in float64 balances the two at ~1e-10 relative.
"""
from __future__ import annotations

import numbers

import numpy as np

from reference._checks import as_array, as_float_array

__all__ = ["numerical_gradient"]


def _weighted_sum(f, x, dout):
    """``sum(f(x) * dout)`` in float64, checking that ``f(x)`` has the shape of ``dout``."""
    out = as_array(f(x), "f(x)")
    if out.shape != dout.shape:
        raise ValueError(f"dout must have the shape of f(x) {out.shape}, got shape {dout.shape}")
    return float(np.sum(out * dout, dtype=np.float64))


def numerical_gradient(f, x, dout, h=1e-5):
    """Central-difference gradient of ``sum(f(x) * dout)`` with respect to ``x``.

    ``x`` is perturbed in place, one element at a time (two calls of ``f`` per element), and restored after each
    element, also when ``f`` raises; ``f`` must read its input afresh on every call.

    Inputs:
    - f: a function of one array, returning an array of the shape of ``dout``
    - x: float64 array, any shape, e.g. ``(N, C, H, W)``
    - dout: upstream gradient of the shape of ``f(x)``
    - h: the step, a positive real number

    Returns ``dx`` of the shape of ``x``, float64.
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    x = as_array(x, "x")
    if x.dtype != np.float64:
        raise TypeError(f"x must be float64 (a step of h is lost in float32 rounding), got dtype {x.dtype} "
                        f"with shape {x.shape}")
    if not x.flags.writeable:
        raise ValueError(f"x must be writeable (it is perturbed in place), got a read-only array of shape {x.shape}")
    dout = as_float_array(dout, "dout").astype(np.float64, copy=False)
    if isinstance(h, bool) or not isinstance(h, numbers.Real):
        raise TypeError(f"h must be a real number, got {h!r}")
    if not 0 < float(h) < np.inf:
        raise ValueError(f"h must be positive and finite, got {h}")
    _weighted_sum(f, x, dout)  # the shape check, before 2 * x.size calls
    dx = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i]
        try:
            x[i] = old + h
            plus = _weighted_sum(f, x, dout)
            x[i] = old - h
            minus = _weighted_sum(f, x, dout)
        finally:
            x[i] = old
        dx[i] = (plus - minus) / (2 * h)
    return dx
