"""The conv layer in plain NumPy: the formulas of :mod:`reference.conv` written out, for reading.

This is the version to read first. The fast routes (:mod:`reference._conv_gemm`, :mod:`reference._conv_phase`,
the FFT in :mod:`reference._conv_impl`) compute exactly these sums, only reordered for speed; the tests check every
one of them, and this one, against PyTorch. :mod:`reference._conv_plan` can run this version too (``CONVKIT_CONV_ALGO
=plain``), but never picks it by itself: it is the slowest on every layer large enough to time.

Nothing here checks its input: :mod:`reference.conv` does. Shape letters follow :mod:`reference._checks`.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = []  # private module: the public API is reference.conv


def _windows(xp: np.ndarray, kh: int, kw: int, sh: int, sw: int) -> np.ndarray:
    """(N, C, H', W', KH, KW): ``[n, c, y, x]`` is the KH x KW patch of padded ``xp`` under output pixel (y, x)."""
    return sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]


def forward(xp: np.ndarray, w: np.ndarray, b: np.ndarray, stride) -> np.ndarray:
    """``out[n, f, y, x] = b[f] + sum_{c, i, j} xp[n, c, y*SH + i, x*SW + j] * w[f, c, i, j]`` for the PADDED
    input ``xp`` (N, C, Hp, Wp), filters ``w`` (F, C, KH, KW), biases ``b`` (F,) -> (N, F, H', W')."""
    f, c, kh, kw = w.shape
    patches = _windows(xp, kh, kw, *stride)
    out = np.einsum("ncyxij,fcij->nfyx", patches, w, optimize=True)
    return out + b[None, :, None, None]


def backward(dout: np.ndarray, xp: np.ndarray, w: np.ndarray, stride, pad):
    """Gradients of :func:`forward`: ``dw`` sums each patch times its output's gradient, ``db`` sums the gradient,
    and ``dx`` sends each output's gradient back through every tap (i, j) to the pixel that tap read, then drops
    the padding ``pad`` = (PH, PW). ``dout`` (N, F, H', W') -> (dx (N, C, H, W), dw (F, C, KH, KW), db (F,))."""
    f, c, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, pad
    ho, wo = dout.shape[2:]
    dw = np.einsum("ncyxij,nfyx->fcij", _windows(xp, kh, kw, sh, sw), dout, optimize=True)
    db = dout.sum(axis=(0, 2, 3))
    dxp = np.zeros_like(xp)
    for i in range(kh):
        for j in range(kw):
            # Tap (i, j) of output (y, x) read xp[:, :, y*SH + i, x*SW + j]: its gradient goes back there.
            dxp[:, :, i:i + sh * ho:sh, j:j + sw * wo:sw] += np.einsum("nfyx,fc->ncyx", dout, w[:, :, i, j])
    dx = dxp[:, :, ph:xp.shape[2] - ph, pw:xp.shape[3] - pw]
    return np.ascontiguousarray(dx), dw, db
