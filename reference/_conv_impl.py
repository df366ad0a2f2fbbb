"""Compute kernels behind :mod:`reference.conv`: padding, scratch buffers and the FFT route for large stride-1
layers; the im2col + GEMM route lives in :mod:`reference._conv_gemm`.

Nothing here checks its input: the public functions in :mod:`reference.conv` do, then call these with
already-padded float arrays. Shape letters follow the glossary in :mod:`reference._checks`; ``P = H' * W'``.

Why two algorithms (measured on the project's 2-core AVX-512 machine, 1 thread, see the helper report):

* **im2col + GEMM** (:mod:`reference._conv_gemm`) gathers every receptive field into a column matrix and
  multiplies it by the filters seen as ``(F, C*KH*KW)``, a block of images at a time.
* **FFT** (convolution theorem) costs ``O(Hp*Wp*log)`` per image-channel plus one small complex matrix product per
  frequency, independent of the kernel area. For stride 1 with many channels and a 5x5 kernel it needs ~4x fewer
  flops than the GEMM; for 1 input channel or small kernels the transforms dominate and im2col wins.
  :func:`use_fft` picks by an operation count. The small DFTs themselves are matrix products (see
  :func:`_dft_matrices`), not ``np.fft`` calls.
"""
from __future__ import annotations

import functools
import math
import threading

import numpy as np

__all__ = []  # private module: the public API is reference.conv

# FFT wins when its operation count is below this fraction of the GEMM's; the constant absorbs that a complex
# matrix product and a strided FFT both run several times below GEMM throughput (calibrated on the benchmark shapes).
_FFT_ADVANTAGE = 0.35


def pad_hw(x: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """``x`` (..., H, W) with zeros added around its last two axes (a fresh array, even for zero padding)."""
    *lead, h, w = x.shape
    out = np.zeros((*lead, h + top + bottom, w + left + right), dtype=x.dtype)
    out[..., top:top + h, left:left + w] = x
    return out


def use_fft(n: int, c: int, f: int, hp: int, wp: int, kh: int, kw: int, ho: int, wo: int, stride) -> bool:
    """Whether the FFT route needs clearly fewer operations than im2col + GEMM for this layer."""
    if stride != (1, 1):
        return False
    gemm = 2.0 * n * f * c * kh * kw * ho * wo
    q = hp * (wp // 2 + 1)
    products = 8.0 * q * n * c * f                       # complex multiply-add = 8 real flops
    transforms = 5.0 * (n * c + n * f) * hp * wp * math.log2(hp * wp)
    return products + transforms < _FFT_ADVANTAGE * gemm


_SCRATCH = threading.local()  # per thread, so concurrent calls never share a buffer
# Buffers kept per thread; beyond that the cache starts over. One training step of the capstone CNN (two conv layers
# and two max pools, forward and backward) uses 33: at 32 the cache started over on every step (1960 times a run).
_SCRATCH_LIMIT = 64


def _per_block(n: int, bytes_per_image: int, budget: int) -> int:
    """How many of ``n`` images fit in ``budget`` bytes at ``bytes_per_image`` each (at least 1, at most ``n``): the
    block size of every loop over blocks of images (the conv routes, pooling)."""
    return max(1, min(n, budget // max(1, bytes_per_image)))


def _scratch(tag: str, shape: tuple, dtype, zeroed: bool = False) -> np.ndarray:
    """A reusable uninitialised buffer for an intermediate named ``tag``; never returned to callers.

    Why: a fresh multi-MB array is a new mmap each call, and its page faults cost as much as the FFT route's
    arithmetic (measured: f32 shape b forward 5.4 -> 2.8 ms when glibc keeps the memory). ``zeroed``: filled with
    zeros when first made (for callers that rely on the parts they never write staying zero).
    """
    cache = getattr(_SCRATCH, "buffers", None)
    if cache is None or len(cache) > _SCRATCH_LIMIT:
        cache = _SCRATCH.buffers = {}
    key = (tag, tuple(shape), np.dtype(dtype))
    if key not in cache:
        cache[key] = (np.zeros if zeroed else np.empty)(shape, dtype=dtype)
    return cache[key]


@functools.lru_cache(maxsize=64)
def _dft_matrices(hp: int, wp: int, dtype: np.dtype):
    """DFT matrices for a (hp, wp) grid: ``fh`` (hp, hp) full along H, ``fw`` (wp, Wq) half-spectrum along W, and the
    inverse ``gh`` (hp, hp), ``gw`` (Wq, wp) with irfft's Hermitian weights (1 for k = 0 and k = wp/2, else 2).

    Why matrices and not ``np.fft``: the transforms here are 14-32 points long and there are thousands of them;
    ``np.fft`` pays ~0.2 us per 1-D transform, a GEMM with an 18x18 matrix pays almost nothing (measured 4-6x).
    """
    ctype = np.result_type(dtype, np.complex64)
    wq = wp // 2 + 1
    fh = np.exp(-2j * np.pi * np.outer(np.arange(hp), np.arange(hp)) / hp)
    fw = np.exp(-2j * np.pi * np.outer(np.arange(wp), np.arange(wq)) / wp)
    weight = np.full(wq, 2.0)
    weight[0] = 1.0
    if wp % 2 == 0:
        weight[-1] = 1.0
    gw = weight[:, None] * np.exp(2j * np.pi * np.outer(np.arange(wq), np.arange(wp)) / wp) / wp
    gh = fh.conj() / hp
    return tuple(m.astype(ctype) for m in (fh, fw, gh, gw))


def _spectra(a: np.ndarray, hp: int, wp: int, tag: str, top: int = 0, left: int = 0,
             conj: bool = False) -> np.ndarray:
    """(A, B, h, w) real -> (Q, A, B) spectra of ``a`` zero-extended to (hp, wp); Q = hp * (wp // 2 + 1)
    frequencies first, so each frequency's (A, B) matrix is contiguous for the per-frequency products.

    Both passes are single GEMMs over every image at once (many small matrix products cost ~1 us of call overhead
    each): along W with the real and imaginary DFT parts side by side (a real GEMM, no cast of ``a`` to complex),
    then along H with the (A, B) pairs as the GEMM's long axis, which lands directly in (Q, A, B) order.
    The result lives in the scratch buffer ``tag`` (valid until the next call with the same tag and shape).
    ``conj``: the complex conjugate of the spectra (conjugate DFT matrices), so a correlation needs no conj pass.
    """
    fh, fw, _, _ = _dft_matrices(hp, wp, a.dtype)
    if conj:
        fh, fw = fh.conj(), fw.conj()
    n_ab, (h, w), wq = a.shape[0] * a.shape[1], a.shape[2:], wp // 2 + 1
    # ``a`` sits at (top, left) of a zero (hp, wp) grid: only the DFT rows/columns of its pixels are used, so
    # neither the zeros around a kernel nor an image's zero padding are ever materialised or multiplied.
    fw_ri = np.concatenate([fw.real[left:left + w], fw.imag[left:left + w]], axis=1)          # (w, 2*Wq)
    rows = np.matmul(a.reshape(-1, w), fw_ri, out=_scratch("rows", (n_ab * h, 2 * wq), a.dtype))
    rows = rows.reshape(n_ab, h, 2, wq)
    half = _scratch("half", (h, wq, n_ab), fh.dtype)                     # (h, Wq, A*B): pixel rows first for the H pass
    half.real = rows[:, :, 0].transpose(1, 2, 0)
    half.imag = rows[:, :, 1].transpose(1, 2, 0)
    spec = np.matmul(fh[:, top:top + h], half.reshape(h, wq * n_ab), out=_scratch(tag, (hp, wq * n_ab), fh.dtype))
    return spec.reshape(hp * wq, a.shape[0], a.shape[1])


def _products(a: np.ndarray, b: np.ndarray, tag: str) -> np.ndarray:
    """Per frequency ``a[q] @ b[q]`` for complex ``a`` (Q, M, K) and ``b`` (Q, K, P) -> REAL (2, Q, M, P): the real
    parts, then the imaginary parts (planar), in the scratch buffer ``tag``.

    One real batched GEMM with the real and imaginary parts of ``a`` side by side as it stores them (``a`` viewed as
    (Q, M, 2K)) against ``b`` as the real blocks ``[[Re, Im], [-Im, Re]]``: the same flops as a complex product, and
    the planar result is what :func:`_to_space` contracts without a pass that separates the parts.
    """
    q, m, k = a.shape
    p, real = b.shape[2], a.real.dtype
    blocks = _scratch(tag + "_b", (2, q, k, 2, p), real)
    blocks[0, :, :, 0] = b.real                    # the two reads of b's interleaved parts are strided: once each
    blocks[1, :, :, 0] = b.imag
    blocks[1, :, :, 1] = blocks[0, :, :, 0]
    np.negative(blocks[1, :, :, 0], out=blocks[0, :, :, 1])
    pairs = np.ascontiguousarray(a).view(real).reshape(q, m, 2 * k)           # columns (k, re/im)
    return np.matmul(pairs, blocks.reshape(2, q, 2 * k, p), out=_scratch(tag, (2, q, m, p), real))


def _planar(a: np.ndarray, tag: str) -> np.ndarray:
    """Complex ``a`` -> real (2, *a.shape): its real parts, then its imaginary parts, in the scratch buffer ``tag``."""
    out = _scratch(tag, (2, *a.shape), a.real.dtype)
    out[0], out[1] = a.real, a.imag
    return out


def _to_space(planar: np.ndarray, a: int, b: int, hp: int, wp: int, h: int, w: int, top: int = 0,
              left: int = 0) -> np.ndarray:
    """Inverse of :func:`_spectra`, only the (h, w) block of the grid at (top, left): the planar spectra (2, Q, A, B)
    of :func:`_products` -> real (A, B, h, w), a fresh contiguous array.

    Two real GEMMs. Along H, the complex inverse as one real matrix on (re/im, frequency) rows, its output rows
    ordered (pixel row, re/im) so each pixel row's parts are one (2 * Wq, A*B) block. Along W, the real part of
    irfft for each pixel row, computed transposed (A*B rows) straight into the output's layout: no pass separates
    real from imaginary parts and no transposing copy follows (shape b float32, best of 30: 2.9 -> 1.0 ms).
    """
    _, _, gh, gw = _dft_matrices(hp, wp, planar.dtype)
    wq = wp // 2 + 1
    ghr, ghi = gh.real[top:top + h], gh.imag[top:top + h]
    lh = np.stack([np.concatenate([ghr, -ghi], axis=1), np.concatenate([ghi, ghr], axis=1)], axis=1)  # (h, 2, 2hp)
    cols = np.matmul(lh.reshape(2 * h, 2 * hp), planar.reshape(2 * hp, wq * a * b),
                     out=_scratch("cols", (2 * h, wq * a * b), planar.dtype))
    gw_ri = np.concatenate([gw.real[:, left:left + w], -gw.imag[:, left:left + w]])          # (2 Wq, w)
    out = np.empty((a * b, h, w), dtype=planar.dtype)
    np.matmul(cols.reshape(h, 2 * wq, a * b).transpose(0, 2, 1), gw_ri, out=out.transpose(1, 0, 2))
    return out.reshape(a, b, h, w)


def forward_fft(x: np.ndarray, w: np.ndarray, ho: int, wo: int, pad=(0, 0)) -> np.ndarray:
    """Stride-1 cross-correlation of ``x`` (N, C, H, W), zero-padded by ``pad`` = (PH, PW) on each side (the padding
    is never materialised), with ``w`` (F, C, KH, KW) -> (N, F, H', W').

    Correlation theorem: ``corr(x, w) = irfft(X * conj(W))``. Outputs ``y < H'`` read the padded input only up to
    row ``H' - 1 + KH - 1 = Hp - 1``, so the circular wrap-around never reaches them: no extra padding is needed.
    """
    n, c, h, wd = x.shape
    hp, wp = h + 2 * pad[0], wd + 2 * pad[1]
    f = w.shape[0]
    xs, ws = _spectra(x, hp, wp, "x", *pad), _spectra(w, hp, wp, "w", conj=True)
    y = _products(xs, ws.transpose(0, 2, 1), "y")                           # (2, Q, N, F)
    return _to_space(y, n, f, hp, wp, ho, wo).astype(x.dtype, copy=False)


def backward_fft(dout: np.ndarray, x: np.ndarray, w: np.ndarray, pad=(0, 0)) -> tuple[np.ndarray, np.ndarray]:
    """Stride-1 gradients ``(dx, dw)`` by the FFT for ``x`` (N, C, H, W) zero-padded by ``pad`` = (PH, PW) (never
    materialised): ``dx`` (N, C, H, W) is the unpadded block of the full convolution of ``dout`` with ``w``, ``dw``
    the correlation of the padded input with ``dout``; neither wraps around, as in :func:`forward_fft`. Only the
    unpadded block of ``dx`` is transformed back (shape b: 14x14 of an 18x18 grid, 40% less than the whole grid)."""
    n, c, h, wd = x.shape
    (ph, pw), (f, _, kh, kw) = pad, w.shape
    hp, wp = h + 2 * ph, wd + 2 * pw
    g = _spectra(dout, hp, wp, "dout")                                       # (Q, N, F)
    q = g.shape[0]
    # Complex products here: their right operands are narrow (C columns), and the real form's twice as many
    # GEMM calls cost more than separating the parts of the (smaller) results afterwards (shape b float32:
    # products 2.9 + 5.2 ms in the real form, 2.0 + 3.3 + 0.3 complex).
    dx = np.matmul(g, _spectra(w, hp, wp, "w"), out=_scratch("dx", (q, n, c), g.dtype))          # (Q, N, C)
    gt = np.conj(g.transpose(0, 2, 1), out=_scratch("gt", (q, f, n), g.dtype))
    dw = np.matmul(gt, _spectra(x, hp, wp, "x", ph, pw), out=_scratch("dw", (q, f, c), g.dtype))  # (Q, F, C)
    dx, dw = _planar(dx, "dx_planar"), _planar(dw, "dw_planar")
    dx = _to_space(dx, n, c, hp, wp, h, wd, ph, pw).astype(x.dtype, copy=False)
    dw = _to_space(dw, f, c, hp, wp, kh, kw).astype(x.dtype, copy=False)
    return dx, dw
