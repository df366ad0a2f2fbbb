"""Input checks shared by every reference function.

Shape glossary (the same letters everywhere: reference, stubs, messages):

    N   batch size (number of images)          C   input channels
    H   input height                           W   input width
    F   number of filters (output channels)    KH  kernel height     KW  kernel width
    H'  output height = (H + 2*PH - KH) // SH + 1
    W'  output width  = (W + 2*PW - KW) // SW + 1
    SH, SW   stride along height / width       PH, PW   zero padding on each side of height / width
    D   features entering a dense layer        M   features leaving it
    K   number of classes

Errors name the argument and its shape, and are ``ValueError`` (bad value or shape) or ``TypeError``
(not an array, not a number): never ``assert``, which ``python -O`` removes.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_float_array", "as_array", "pair", "positive_int", "same_float_dtype"]


def as_array(x, name: str, ndim: int | None = None, shape_hint: str = "") -> np.ndarray:
    """``x`` as an ndarray of real numbers with ``ndim`` axes, else a ValueError/TypeError naming ``name``."""
    if isinstance(x, np.ndarray):
        arr = x
    elif isinstance(x, (list, tuple, numbers.Number)):
        arr = np.asarray(x)
    else:
        raise TypeError(f"{name} must be a NumPy array, got {type(x).__name__}")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        hint = f" {shape_hint}" if shape_hint else ""
        raise ValueError(f"{name} must have {ndim} dimensions{hint}, got shape {arr.shape}")
    return arr


def as_float_array(x, name: str, ndim: int | None = None, shape_hint: str = "") -> np.ndarray:
    """Like :func:`as_array`, converted to a float dtype: float32/float64 stay, anything else becomes float64."""
    arr = as_array(x, name, ndim, shape_hint)
    if arr.dtype in (np.float32, np.float64):
        return arr
    return arr.astype(np.float64)


def same_float_dtype(*arrays: np.ndarray) -> np.dtype:
    """The dtype the result of combining ``arrays`` has: float32 only when every input is float32."""
    return np.result_type(*[a.dtype for a in arrays], np.float32)


def positive_int(v, name: str, allow_zero: bool = False) -> int:
    """``v`` as a Python int that is > 0 (or >= 0), else an error naming ``name``."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {v!r}")
    v = int(v)
    if v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {v}")
    return v


def pair(v, name: str, allow_zero: bool = False) -> tuple[int, int]:
    """An int or an ``(h, w)`` pair as ``(h, w)``; every entry > 0 (or >= 0 with ``allow_zero``)."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{name} must be an int or an (h, w) pair, got {v!r}")
        return positive_int(v[0], f"{name}[0]", allow_zero), positive_int(v[1], f"{name}[1]", allow_zero)
    v = positive_int(v, name, allow_zero)
    return v, v
