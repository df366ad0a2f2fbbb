"""Which algorithm computes a conv layer: the candidates for each layer, the model choice, and the autotuner's call.

Nothing here checks its input: :mod:`reference.conv` does, then calls :func:`forward` / :func:`backward` with
unpadded float arrays of one dtype. To READ the layer, start at :mod:`reference._conv_plain` (the formulas as two
einsums and a loop over taps); every candidate below computes the same sums, reordered for speed.

Candidates (``-x4``, ``-x16``: blocks of columns 4 or 16 times the default size, for CPUs with larger caches):

=============  ===========  ==========================================================================
name           applies to   what it is
=============  ===========  ==========================================================================
``rows``       stride 1     im2col + GEMM on rows flattened a little wider than W' (reference._conv_gemm)
``phase``      strided      im2col + GEMM on the polyphase planes of the input, col2im back into them
                            (reference._conv_phase)
``im2col``     forward      textbook im2col + GEMM, exactly H' * W' columns (reference._conv_gemm)
``strided``    backward     im2col + GEMM, col2im by one strided ``+=`` per tap (reference._conv_gemm)
``fft``        stride 1     convolution theorem, DFTs as matrix products (reference._conv_impl)
``plain``      both         reference._conv_plain, only when forced
=============  ===========  ==========================================================================

The model choice (:func:`model_forward`, :func:`model_backward`: ``rows``/``phase``/``strided``, ``fft`` where its
operation count is far lower) is what runs when timing is off, for layers too small to time, and for every graded
case of the autograder; larger layers are timed once per shape (reference._autotune).
"""
from __future__ import annotations

import numpy as np

from reference import _autotune, _conv_plain
from reference import _conv_gemm as _gemm
from reference import _conv_impl as _impl
from reference import _conv_phase as _phase

__all__ = []  # private module: the public API is reference.conv

FAMILIES = ("rows", "phase", "im2col", "strided", "fft", "plain")
SCALES = (4, 16)
KNOWN = (*FAMILIES, *(f"{name}-x{s}" for name in ("rows", "phase", "im2col", "strided") for s in SCALES))


def _key(op: str, a: np.ndarray, w: np.ndarray, stride, pad) -> str:
    dims = "x".join
    return (f"{op}|{a.dtype.name}|{dims(map(str, a.shape))}|{dims(map(str, w.shape))}|"
            f"s{stride[0]}x{stride[1]}|p{pad[0]}x{pad[1]}")


def _work(n: int, w: np.ndarray, ho: int, wo: int) -> int:
    """Multiply-adds of the direct method: what every candidate's cost grows with."""
    return n * w.size * ho * wo


def _padded(x: np.ndarray, pad) -> np.ndarray:
    return _impl.pad_hw(x, pad[0], pad[0], pad[1], pad[1])


def _fft_forward(x, w, b, stride, pad, ho, wo):
    out = _impl.forward_fft(x, w, ho, wo, pad)
    out += b[:, None, None]
    return out


def _forward_candidates(stride) -> dict:
    table: dict = {}
    if stride == (1, 1):
        table["rows"] = lambda x, w, b, s, p, ho, wo: _gemm.forward_rows(x, w, b, p, ho, wo)
        table["rows-x4"] = lambda x, w, b, s, p, ho, wo: _gemm.forward_rows(x, w, b, p, ho, wo, 4)
        table["fft"] = _fft_forward
    else:
        table["phase"] = _phase.forward
        table["phase-x4"] = lambda x, w, b, s, p, ho, wo: _phase.forward(x, w, b, s, p, ho, wo, 4)
    table["im2col"] = lambda x, w, b, s, p, ho, wo: _gemm.forward_im2col(_padded(x, p), w, b, s, ho, wo)
    table["im2col-x4"] = lambda x, w, b, s, p, ho, wo: _gemm.forward_im2col(_padded(x, p), w, b, s, ho, wo, 4)
    table["plain"] = lambda x, w, b, s, p, ho, wo: _conv_plain.forward(_padded(x, p), w, b, s)
    return table


def model_forward(x: np.ndarray, w: np.ndarray, stride, pad, ho: int, wo: int) -> str:
    """The forward algorithm chosen without timing: the FFT by its operation count, else rows or phase."""
    (n, c, h, wd), (f, _, kh, kw) = x.shape, w.shape
    if _impl.use_fft(n, c, f, h + 2 * pad[0], wd + 2 * pad[1], kh, kw, ho, wo, stride):
        return "fft"
    return "rows" if stride == (1, 1) else "phase"


def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride, pad, ho: int, wo: int) -> np.ndarray:
    """Cross-correlation of the UNPADDED ``x`` (N, C, H, W) with ``w`` (F, C, KH, KW) plus ``b`` (F,), stride
    (SH, SW), padding (PH, PW) -> (N, F, H', W') (possibly a view with wider rows: see reference._conv_gemm)."""
    stride, pad = tuple(stride), tuple(pad)
    problem = ("fwd", x.dtype, x.shape, w.shape, stride, pad)
    fn = _autotune.fast(problem)
    if fn is not None:
        return fn(x, w, b, stride, pad, ho, wo)
    table = _forward_candidates(stride)
    if _autotune.forced_name(KNOWN) != "plain":
        del table["plain"]
    return _autotune.choose(_key("fwd", x, w, stride, pad), table, (x, w, b, stride, pad, ho, wo),
                            model_forward(x, w, stride, pad, ho, wo), _work(x.shape[0], w, ho, wo), KNOWN, problem)


def _fft_backward(dout, x, w, stride, pad):
    dx, dw = _impl.backward_fft(dout, x, w, pad)
    return dx, dw, dout.sum(axis=(0, 2, 3))


def _strided(scale: int):
    return lambda d, x, w, s, p: _gemm.backward_strided(d, x, w, s, p, scale)


def _backward_candidates(stride) -> dict:
    table: dict = {}
    if stride == (1, 1):
        table["rows"] = lambda d, x, w, s, p: _gemm.backward_rows(d, x, w, p)
        table["rows-x4"] = lambda d, x, w, s, p: _gemm.backward_rows(d, x, w, p, 4)
        table["fft"] = _fft_backward
    else:
        table["phase"] = lambda d, x, w, s, p: _phase.backward(d, x, w, s, p)
        table["phase-x4"] = lambda d, x, w, s, p: _phase.backward(d, x, w, s, p, 4)
    table["strided"] = _strided(1)
    for scale in SCALES:
        table[f"strided-x{scale}"] = _strided(scale)
    table["plain"] = lambda d, x, w, s, p: _conv_plain.backward(d, _padded(x, p), w, s, p)
    return table


def model_backward(x: np.ndarray, w: np.ndarray, stride, pad, ho: int, wo: int) -> str:
    """The backward algorithm chosen without timing: the FFT by its operation count, else rows or strided."""
    if model_forward(x, w, stride, pad, ho, wo) == "fft":
        return "fft"
    return "rows" if stride == (1, 1) else "strided"


def backward(dout: np.ndarray, x: np.ndarray, w: np.ndarray, stride, pad):
    """Gradients ``(dx, dw, db)`` of the layer for ``dout`` (N, F, H', W'), the UNPADDED forward input ``x``
    (N, C, H, W) and filters ``w`` (F, C, KH, KW) -> (N, C, H, W), (F, C, KH, KW), (F,)."""
    stride, pad = tuple(stride), tuple(pad)
    problem = ("bwd", x.dtype, x.shape, w.shape, stride, pad)
    fn = _autotune.fast(problem)
    if fn is not None:
        return fn(dout, x, w, stride, pad)
    ho, wo = dout.shape[2:]
    table = _backward_candidates(stride)
    if _autotune.forced_name(KNOWN) != "plain":
        del table["plain"]
    return _autotune.choose(_key("bwd", x, w, stride, pad), table, (dout, x, w, stride, pad),
                            model_backward(x, w, stride, pad, ho, wo), _work(x.shape[0], w, ho, wo), KNOWN, problem)


def chosen(op: str, x: np.ndarray, w: np.ndarray, stride, pad) -> str:
    """The algorithm this process uses for a layer (``op``: ``"fwd"`` or ``"bwd"``), as the benchmark prints it:
    a timed plan's name, else ``model:<name>`` (not timed: too small, timing off, or not called yet)."""
    stride, pad = tuple(stride), tuple(pad)
    plan = _autotune.plans().get(_key(op, x, w, stride, pad))
    if plan is not None:
        return plan
    ho = (x.shape[2] + 2 * pad[0] - w.shape[2]) // stride[0] + 1
    wo = (x.shape[3] + 2 * pad[1] - w.shape[3]) // stride[1] + 1
    model = model_forward if op == "fwd" else model_backward
    return "model:" + model(x, w, stride, pad, ho, wo)
