"""Softmax, cross-entropy loss and the gradient of their composition, stable for any finite logits.

Shapes follow the glossary of :mod:`reference._checks`: logits ``z`` are ``(N, K)`` (``N`` samples, ``K``
classes) and labels ``y`` are ``(N,)`` integers in ``[0, K)``.

Stability. ``exp`` overflows past ~88 (float32) or ~709 (float64), so the textbook softmax subtracts each row's
maximum first: ``softmax(z) = softmax(z - c)`` for any constant ``c`` per row. Per-row maxima over a short last
axis are slow in NumPy (a 1024x10 reduction costs ten times an ``exp`` of the whole array), so :func:`_exp_shifted`
first tries ONE constant for the whole array: none when every logit is below half the exponent range (then no
sum can overflow), else the global maximum. Only when some row's sum falls below the square root of the smallest
normal number, meaning its largest terms underflowed, does it fall back to the per-row maximum. Every path keeps
each probability above ``sqrt(tiny)`` to full relative precision, and huge logits (1e4) stay finite.
"""
from __future__ import annotations

import numpy as np

from reference._checks import as_array, as_float_array

__all__ = ["softmax", "cross_entropy", "softmax_cross_entropy_backward"]

# Per dtype: half the exponent range (exp of it times any realistic K cannot overflow) and sqrt(smallest normal)
# (a row sum below it means the row's terms underflowed under a global shift).
_RANGE = {
    np.dtype(t): (float(0.5 * np.log(np.finfo(t).max)), float(np.sqrt(np.finfo(t).tiny)))
    for t in (np.float32, np.float64)
}


def _check_logits(z, ndim=None):
    z = as_float_array(z, "z", ndim, "(N, K)")
    if z.ndim < 1 or z.shape[-1] < 1:
        raise ValueError(f"z must have at least one class on its last axis (N, K), got shape {z.shape}")
    top = z.max(initial=-np.inf)
    if not top < np.inf:  # NaN fails every comparison
        raise ValueError(f"z must hold finite logits (or -inf), got NaN or +inf in z of shape {z.shape}")
    return z, top


def _check_labels(y, z):
    y = as_array(y, "y", 1, "(N,)")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"y must hold integer class labels, got dtype {y.dtype} with shape {y.shape}")
    n, k = z.shape
    if y.shape != (n,):
        raise ValueError(f"y must have shape (N,) = ({n},) for z of shape {z.shape}, got shape {y.shape}")
    if n == 0:
        raise ValueError(f"z must hold at least one sample (N >= 1) for a mean loss, got shape {z.shape}")
    if y.min() < 0 or y.max() >= k:
        raise ValueError(f"y must hold labels in [0, K) = [0, {k}) for z of shape {z.shape}, "
                         f"got [{y.min()}, {y.max()}]")
    return y


def _exp(z, c):
    """``exp(z - c)`` as a new array, ``c`` None (no shift), a scalar or one value per row."""
    if c is None:
        return np.exp(z)
    e = np.subtract(z, c)
    np.exp(e, out=e)
    return e


def _exp_shifted(z, top):
    """``(e, s, c)``: ``e = exp(z - c)`` (a new array), its row sums ``s`` (``z.shape[:-1]``) and the shift ``c``
    (None for no shift, a scalar, or one value per row broadcastable against ``z``)."""
    half_range, sqrt_tiny = _RANGE[z.dtype]
    c = None if top <= half_range else top
    e = _exp(z, c)
    # Row sums as a matrix-vector product: BLAS is several times faster than np.sum over a short last axis.
    ones = np.ones(z.shape[-1], dtype=z.dtype)
    s = np.asarray(e @ ones)  # a 0-d array, not a NumPy scalar, for a single row of logits
    if s.size and s.min() < sqrt_tiny:
        c = z.max(axis=-1, keepdims=True)
        e = _exp(z, c)
        s = np.asarray(e @ ones)
    return e, s, c


def softmax(z):
    """Softmax over the last axis: ``exp(z) / sum(exp(z))`` row by row, computed without overflow.

    Inputs:
    - z: logits ``(N, K)`` (any shape with ``K`` last)

    Returns ``p`` of the shape of ``z``: each row is non-negative and sums to 1.
    """
    z, top = _check_logits(z)
    p, s, _ = _exp_shifted(z, top)
    np.reciprocal(s, out=s)
    p *= s[..., None]
    return p


def cross_entropy(z, y):
    """Mean negative log-likelihood of the labels: ``mean(logsumexp(z[i]) - z[i, y[i]])``.

    Computed from the logits through log-sum-exp, never as ``log(softmax(z))``, which is ``log(0) = -inf`` once
    a probability underflows.

    Inputs:
    - z: logits ``(N, K)``
    - y: integer labels ``(N,)`` in ``[0, K)``

    Returns ``loss``, a NumPy scalar of the dtype of ``z`` (averaged in float64).
    """
    z, top = _check_logits(z, 2)
    y = _check_labels(y, z)
    _, s, c = _exp_shifted(z, top)
    lse = np.log(s)  # log-sum-exp of each row, (N,)
    if c is not None:
        lse += np.reshape(c, -1)
    loss = z.dtype.type(np.mean(lse - z[np.arange(z.shape[0]), y], dtype=np.float64))
    return loss


def softmax_cross_entropy_backward(z, y):
    """Gradient of :func:`cross_entropy` (the mean over ``N``) with respect to the logits.

    Inputs:
    - z: logits ``(N, K)``
    - y: integer labels ``(N,)`` in ``[0, K)``

    Returns ``dz`` of shape ``(N, K)``: ``(softmax(z) - onehot(y)) / N``.
    """
    z, top = _check_logits(z, 2)
    y = _check_labels(y, z)
    n = z.shape[0]
    dz, s, _ = _exp_shifted(z, top)
    np.multiply(s, n, out=s)
    np.reciprocal(s, out=s)
    dz *= s[:, None]
    dz[np.arange(n), y] -= 1.0 / n
    return dz
