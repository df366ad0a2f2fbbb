"""Element-wise and dense layers: ReLU, flatten, fully connected, each with its backward pass.

Shapes follow the glossary of :mod:`reference._checks`: ``N`` samples, ``D`` features entering a dense layer,
``M`` features leaving it. Results are float: float32 inputs give float32, float64 or integer inputs give float64,
and mixing float32 with float64 gives float64.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from reference._checks import as_float_array, same_float_dtype

__all__ = ["relu", "relu_backward", "flatten", "flatten_backward", "dense_forward", "dense_backward"]


def _same_shape(a, b, a_name, b_name):
    if a.shape != b.shape:
        raise ValueError(f"{a_name} must have the shape of {b_name} {b.shape}, got shape {a.shape}")


def relu(x):
    """Rectified linear unit ``max(0, x)``, element-wise.

    Inputs:
    - x: any shape, e.g. ``(N, C, H, W)`` or ``(N, D)``

    Returns ``out`` of the shape of ``x``.
    """
    x = as_float_array(x, "x")
    out = np.maximum(x, 0)
    return out


def relu_backward(dout, x):
    """Gradient of :func:`relu`: ``dout`` where ``x > 0``, else 0 (also at ``x == 0``, like PyTorch).

    Inputs:
    - dout: upstream gradient, the shape of ``x``
    - x: the forward input, any shape

    Returns ``dx`` of the shape of ``x``.
    """
    dout = as_float_array(dout, "dout")
    x = as_float_array(x, "x")
    _same_shape(dout, x, "dout", "x")
    dx = np.multiply(dout, x > 0, dtype=same_float_dtype(dout, x))
    return dx


def flatten(x):
    """Each sample's values as one row: ``(N, C, H, W)`` -> ``(N, C*H*W)`` (any ``x`` with 2 or more axes).

    Inputs:
    - x: ``(N, ...)``, e.g. ``(N, C, H, W)``

    Returns ``out`` of shape ``(N, D)`` with ``D`` the product of the other axes, in C (row-major) order; a view
    of ``x`` when its memory allows, like ``torch.flatten``.
    """
    x = as_float_array(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must have at least 2 dimensions (N, ...), got shape {x.shape}")
    out = x.reshape(x.shape[0], math.prod(x.shape[1:]))
    return out


def flatten_backward(dout, x_shape):
    """Gradient of :func:`flatten`: ``dout`` put back into the shape of the forward input.

    Inputs:
    - dout: upstream gradient ``(N, D)``
    - x_shape: the forward input's shape, e.g. ``(N, C, H, W)`` with ``C*H*W == D``

    Returns ``dx`` of shape ``x_shape``.
    """
    dout = as_float_array(dout, "dout", 2, "(N, D)")
    if not isinstance(x_shape, (tuple, list)) or not all(
        isinstance(n, numbers.Integral) and not isinstance(n, bool) and int(n) >= 0 for n in x_shape
    ):
        raise TypeError(f"x_shape must be a tuple of non-negative ints, got {x_shape!r}")
    x_shape = tuple(int(n) for n in x_shape)
    if len(x_shape) < 2 or dout.shape != (x_shape[0], math.prod(x_shape[1:])):
        raise ValueError(f"dout of shape {dout.shape} (N, D) does not flatten x_shape {x_shape} (N, ...)")
    dx = dout.reshape(x_shape)
    return dx


def _dense_inputs(x, w):
    x = as_float_array(x, "x", 2, "(N, D)")
    w = as_float_array(w, "w", 2, "(D, M)")
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"w must have shape (D, M) with D = {x.shape[1]} from x of shape {x.shape}, "
                         f"got shape {w.shape}")
    return x, w


def dense_forward(x, w, b):
    """Fully connected layer ``x @ w + b``.

    Inputs:
    - x: ``(N, D)``
    - w: weights ``(D, M)``
    - b: biases ``(M,)``

    Returns ``out`` of shape ``(N, M)``.
    """
    x, w = _dense_inputs(x, w)
    b = as_float_array(b, "b", 1, "(M,)")
    if b.shape != (w.shape[1],):
        raise ValueError(f"b must have shape (M,) = ({w.shape[1]},) for w of shape {w.shape}, got shape {b.shape}")
    dtype = same_float_dtype(x, w, b)
    out = x.astype(dtype, copy=False) @ w.astype(dtype, copy=False)
    out += b
    return out


def dense_backward(dout, x, w):
    """Gradients of :func:`dense_forward` with respect to its input, weights and biases.

    Inputs:
    - dout: upstream gradient ``(N, M)``
    - x: the forward input ``(N, D)``
    - w: weights ``(D, M)``

    Returns ``(dx, dw, db)`` of shapes ``(N, D)``, ``(D, M)``, ``(M,)``.
    """
    x, w = _dense_inputs(x, w)
    dout = as_float_array(dout, "dout", 2, "(N, M)")
    if dout.shape != (x.shape[0], w.shape[1]):
        raise ValueError(
            f"dout must have shape (N, M) = {(x.shape[0], w.shape[1])} for x {x.shape} and w {w.shape}, "
            f"got shape {dout.shape}"
        )
    dtype = same_float_dtype(dout, x, w)
    dout, x, w = (a.astype(dtype, copy=False) for a in (dout, x, w))
    dx = dout @ w.T
    dw = x.T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db
