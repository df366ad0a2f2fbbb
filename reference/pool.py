"""Pooling layers: max, average and sum over windows of each channel, and their backward passes.

Shapes follow the glossary of :mod:`reference._checks`: ``x`` is ``(N, C, H, W)``, the window is ``KH x KW``
(``size``), the stride ``SH, SW`` defaults to the window, and the output is ``(N, C, H', W')`` with
``H' = (H - KH) // SH + 1`` and ``W' = (W - KW) // SW + 1`` (pooling never pads; rows and columns that no
window reaches get no output and a zero gradient).

Every function walks the ``KH * KW`` offsets of the window rather than the ``H' * W'`` windows: the offset
``(i, j)`` of every window at once is the strided sub-grid ``x[:, :, i::SH, j::SW]`` (cut to ``H' x W'``), so a
2x2 max pool is three ``np.maximum`` calls over four views, with no copy of ``x`` and no Python loop over pixels.

Max pooling with windows that tile the input (stride = size, the common case) computes the same result faster, a
block of images at a time. Windows of 2x2 (the slides' and the capstone's) go the flat route (:func:`_pair_maxima`,
:func:`_pair_backward`): every pass is one contiguous run over the block, and the backward puts each window's
gradient at its first maximum in one pass over ``dx``. Other tiled windows copy the block into one contiguous plane
per window offset (:func:`_planes`) and compare planes. Why: NumPy restarts its inner loop at every row of a 2-D
window view, so on small images (``W'`` of 7 or 8) the views cost more than the arithmetic. Measured, fwd+bwd
against torch on the ReLU of the benchmark's conv outputs, float64, one core (AMD EPYC, AVX-512): N64 C16 28x28
1.16 -> 0.74, N64 C36 14x14 0.86 -> 0.67, N32 C32 16x16 0.91 -> 0.63 of torch's time (the views before: one long
strided run per window column, then the rows).
"""
from __future__ import annotations

import functools

import numpy as np

from reference._checks import as_float_array, pair, same_float_dtype
from reference._conv_impl import _per_block, _scratch

__all__ = [
    "max_pool2d",
    "avg_pool2d",
    "sum_pool2d",
    "max_pool2d_backward",
    "avg_pool2d_backward",
    "sum_pool2d_backward",
]

_X_SHAPE = "(N, C, H, W)"


def _geometry(x, size, stride):
    """Checked ``x`` with its window ``(KH, KW)``, stride ``(SH, SW)`` and output size ``(H', W')``."""
    x = as_float_array(x, "x", 4, _X_SHAPE)
    kh, kw = pair(size, "size")
    sh, sw = pair(size if stride is None else stride, "stride")
    h, w = x.shape[2:]
    if kh > h or kw > w:
        raise ValueError(f"size ({kh}, {kw}) (KH, KW) does not fit in x of shape {x.shape} {_X_SHAPE}")
    return x, (kh, kw), (sh, sw), ((h - kh) // sh + 1, (w - kw) // sw + 1)


def _checked_dout(dout, x, out_hw):
    """Checked ``dout``, which must be ``(N, C, H', W')`` for the given ``x``."""
    dout = as_float_array(dout, "dout", 4, "(N, C, H', W')")
    want = x.shape[:2] + out_hw
    if dout.shape != want:
        raise ValueError(f"dout must have shape {want} (N, C, H', W') for x of shape {x.shape}, got shape {dout.shape}")
    return dout


def _offsets(a, window, stride, out_hw):
    """The views of ``a`` at each window offset in row-major order, each ``(N, C, H', W')``.

    View ``(i, j)`` holds, for every window, its element at row ``i`` and column ``j``; writing into a view of an
    output array writes through to it.
    """
    (kh, kw), (sh, sw), (ho, wo) = window, stride, out_hw
    return [a[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw] for i in range(kh) for j in range(kw)]


def _reduce(views, ufunc, out=None):
    """``ufunc`` folded over ``views`` into ``out``, or one new array when not given (one pass per view, no
    temporaries)."""
    if len(views) == 1:
        if out is None:
            return views[0].copy()
        np.copyto(out, views[0])
        return out
    out = ufunc(views[0], views[1], out=out)
    for v in views[2:]:
        ufunc(out, v, out=out)
    return out


def _overlap(window, stride):
    """Whether windows share elements (stride < size on an axis); if not, each view of ``dx`` is written once."""
    return stride[0] < window[0] or stride[1] < window[1]


def _spread(dx, g, window, stride, out_hw):
    """``dx`` with ``g`` (``(N, C, H', W')``) added at every offset of every window."""
    overlap = _overlap(window, stride)
    for view in _offsets(dx, window, stride, out_hw):
        if overlap:
            np.add(view, g, out=view)
        else:
            np.copyto(view, g)
    return dx


def max_pool2d(x, size=2, stride=None):
    """Maximum over each ``KH x KW`` window of each channel.

    Inputs:
    - x: ``(N, C, H, W)``
    - size: window ``KH x KW``, an int or an ``(h, w)`` pair
    - stride: ``SH, SW``, an int or an ``(h, w)`` pair; defaults to ``size``

    Returns ``out`` of shape ``(N, C, H', W')``, ``H' = (H - KH) // SH + 1``, ``W' = (W - KW) // SW + 1``,
    with the dtype of ``x`` (float32 stays float32, integers become float64).
    """
    x, window, stride, out_hw = _geometry(x, size, stride)
    if window == stride:
        out = np.empty(x.shape[:2] + out_hw, dtype=x.dtype)
        pairs = _pairs(x, window, out_hw)
        for block in _image_blocks(x):
            if pairs:
                np.copyto(out[block].reshape(-1, *out_hw), _corners(_pair_maxima(x[block])[2], out_hw))
            else:
                _tiled_max(x[block], window, out_hw, out[block])
        return out
    out = _reduce(_offsets(x, window, stride, out_hw), np.maximum)
    return out


def sum_pool2d(x, size=2, stride=None):
    """Sum over each ``KH x KW`` window of each channel.

    Inputs and output as :func:`max_pool2d`: ``x (N, C, H, W)`` -> ``out (N, C, H', W')``.
    """
    x, window, stride, out_hw = _geometry(x, size, stride)
    out = _reduce(_offsets(x, window, stride, out_hw), np.add)
    return out


def avg_pool2d(x, size=2, stride=None):
    """Mean over each ``KH x KW`` window of each channel (the window sum divided by ``KH * KW``).

    Inputs and output as :func:`max_pool2d`: ``x (N, C, H, W)`` -> ``out (N, C, H', W')``.
    """
    x, window, stride, out_hw = _geometry(x, size, stride)
    out = _reduce(_offsets(x, window, stride, out_hw), np.add)
    np.divide(out, window[0] * window[1], out=out)
    return out


def max_pool2d_backward(dout, x, size=2, stride=None):
    """Gradient of :func:`max_pool2d` with respect to ``x``.

    Each window passes its upstream gradient to ONE element: the first maximum in row-major order within the
    window (PyTorch's rule; after a ReLU many windows hold tied zeros, and routing to every tie would multiply the
    gradient). Where windows overlap (stride < size) an element collects the gradient of every window it wins.

    Inputs:
    - dout: upstream gradient ``(N, C, H', W')``
    - x: the forward input ``(N, C, H, W)``
    - size, stride: as in :func:`max_pool2d`

    Returns ``dx`` of shape ``(N, C, H, W)``.
    """
    x, window, stride, out_hw = _geometry(x, size, stride)
    dout = _checked_dout(dout, x, out_hw)
    dtype = same_float_dtype(x, dout)
    if window == stride:
        return _tiled_max_backward(dout.astype(dtype, copy=False), x.astype(dtype, copy=False), window, out_hw)
    views = _offsets(x, window, stride, out_hw)
    out = _reduce(views, np.maximum)
    # Walk the offsets in row-major order; `free` marks windows whose maximum is not found yet, so only the
    # first equal element of each window wins. The last offset needs no comparison: a window still free there
    # has its maximum at that offset.
    # Without overlap each view of dx is written once, straight from the product (no temporary, no read back).
    overlap = _overlap(window, stride)
    dx = np.zeros(x.shape, dtype=dtype)
    free = np.ones(out.shape, dtype=bool)
    hit = np.empty(out.shape, dtype=bool)
    for k, (view, dview) in enumerate(zip(views, _offsets(dx, window, stride, out_hw), strict=True)):
        if k < len(views) - 1:
            np.equal(view, out, out=hit)
            np.logical_and(hit, free, out=hit)
            np.logical_xor(free, hit, out=free)
        else:
            hit = free
        if overlap:
            np.add(dview, dout * hit, out=dview)
        else:
            np.multiply(dout, hit, out=dview)
    return dx


# Pooling with stride = size goes over a block of images at a time, about one L2 cache of input: its passes (the
# window columns, the rows, and in the backward the comparisons and dx) then re-read the block from cache instead of
# the whole batch from memory. Measured, fwd+bwd of N64 C16 28x28 float64 timed interleaved with torch (whose calls
# evict the caches, as the other layers of a network do): 0.83-0.86 of torch's time as one block, 0.64-0.65 in
# blocks of 512 KiB (256 KiB: 0.70-0.73, 1 MiB: 0.73-0.74).
_BLOCK_BYTES = 512 * 1024


def _image_blocks(x):
    """Slices of ``x``'s first axis, each about :data:`_BLOCK_BYTES` of it (at least one image)."""
    n = x.shape[0]
    step = _per_block(n, x[:1].nbytes, _BLOCK_BYTES)
    return [slice(start, min(n, start + step)) for start in range(0, n, step)]


def _pairs(x, window, out_hw):
    """Whether max pooling of ``x`` takes the flat 2x2 route (:func:`_pair_maxima`): 2x2 windows that tile it."""
    return window == (2, 2) and tuple(2 * v for v in out_hw) == x.shape[2:] and x.shape[3] < 2 ** 16 - 1


def _pair_maxima(x):
    """For 2x2 windows tiling ``x`` (N, C, H, W), on its values as one flat run ``f`` (a copy only if ``x`` is not
    contiguous): ``a[k] = max(f[k], f[k+1])`` and ``b[k] = max(a[k], a[k+W])``, two scratch runs (valid until the
    next call). At a window's top-left element ``k``, ``a[k]`` and ``a[k+W]`` are the maxima of its two rows and
    ``b[k]`` the window's maximum; elsewhere they mix neighbouring windows and are never read.

    Why: every pass is one contiguous run, where the window views of :func:`_planes` make NumPy restart its inner
    loop every ``W'`` values. Measured on N64 C36 14x14 float64 (``W' = 7``), one core: the two maxima of a block
    cost 22 us against 75 us for gathering its planes (AMD EPYC, AVX-512)."""
    f = x.reshape(-1)
    w = x.shape[3]
    a = _scratch("pool_pair_a", f.shape, x.dtype)
    b = _scratch("pool_pair_b", f.shape, x.dtype)
    np.maximum(f[:-1], f[1:], out=a[:-1])
    a[-1] = f[-1]                                                # defined, though no window reads it
    np.maximum(a[:-w], a[w:], out=b[:-w])
    return f, a, b


def _corners(a, out_hw):
    """The view of ``a``, a flat run over (N, C, H, W), at the top-left element of each 2x2 window: (N, C, H', W')."""
    ho, wo = out_hw
    return a.reshape(-1, ho, 2, wo, 2)[:, :, 0, :, 0]


@functools.lru_cache(maxsize=16)
def _corner_index(m: int, ho: int, wo: int) -> np.ndarray:
    """Flat index of the top-left element of each 2x2 window of ``m`` planes of 2H' x 2W' values, (M * H' * W',)."""
    index = np.arange(m * 4 * ho * wo).reshape(m, ho, 2, wo, 2)[:, :, 0, :, 0].reshape(-1)
    index.flags.writeable = False
    return index


def _pair_backward(dout, x, dx, out_hw):
    """:func:`max_pool2d_backward` of one block for 2x2 windows tiling ``x`` (:func:`_pairs`), written into the
    contiguous ``dx``: the same rule as :func:`_tiled_max_backward` (the first row holding the window's maximum,
    then the first element of that row holding the row's maximum; NaN windows alike).

    The comparisons run on the flat runs of :func:`_pair_maxima`: ``top`` (the top row holds the window's maximum)
    and ``left`` (an element holds its row's maximum, read at the top and the bottom row's left element), combined
    into each window's offset of its first maximum, ``W * (not top) + (not left of that row)``. Only the offsets at
    the windows' top-left elements are gathered, and ``dout`` is put at ``top-left + offset`` of a zeroed ``dx``:
    one pass writes ``dx``, where four window views restart NumPy's inner loop every ``W'`` values."""
    w = x.shape[3]
    f, a, b = _pair_maxima(x)
    e = f.size - w                                               # the corners all lie before the last row
    top, left, pick = (_scratch(f"pool_pair_{name}", f.shape, bool) for name in ("top", "left", "pick"))
    offset = _scratch("pool_pair_offset", f.shape, np.uint16)
    np.equal(a[:e], b[:e], out=top[:e])
    np.equal(f[:-1], a[:-1], out=left[:-1])
    left[-1] = False
    left0, left1, top, pick = left[:e], left[w:], top[:e], pick[:e]
    np.logical_xor(left0, left1, out=pick)                       # the winning row's left: left1 ^ (top & (left0 ^
    np.logical_and(pick, top, out=pick)                          # left1)); the offset takes its negation
    np.logical_xor(pick, left1, out=pick)
    np.logical_not(pick, out=pick)
    np.logical_not(top, out=top)
    np.multiply(top, w, out=offset[:e], dtype=np.uint16)
    np.add(offset[:e], pick, out=offset[:e], dtype=np.uint16)
    index = _scratch("pool_pair_index", (x.shape[0] * x.shape[1],) + tuple(out_hw), np.intp)
    np.copyto(index, _corners(offset, out_hw))
    index = index.reshape(-1)
    index += _corner_index(x.shape[0] * x.shape[1], *out_hw)
    flat = dx.reshape(-1)
    flat.fill(0)
    flat[index] = dout.reshape(-1)


def _planes(x, window, out_hw):
    """The ``KH * KW`` window offsets of ``x`` (N, C, H, W) with stride = size, as one scratch buffer
    (KH, KW, N, C, H', W') (valid until the next call): ``planes[i, j]`` holds element (i, j) of every window, one
    contiguous run. One copy, after which every comparison and maximum runs on contiguous memory."""
    (kh, kw), (ho, wo) = window, out_hw
    n, c = x.shape[:2]
    planes = _scratch("pool_planes", (kh, kw, n, c, ho, wo), x.dtype)
    np.copyto(planes, x[:, :, :ho * kh, :wo * kw].reshape(n, c, ho, kh, wo, kw).transpose(3, 5, 0, 1, 2, 4))
    return planes


def _tiled_max(x, window, out_hw, out=None):
    """Max pooling of ``x`` (N, C, H, W) with stride = size: its :func:`_planes`; the maxima of each window row,
    ``rows`` (KH, N, C, H', W'); and the pooled ``out`` (N, C, H', W'), written into ``out`` when given.

    ``planes``, ``rows`` (and ``out`` unless given) are scratch buffers, valid until the next call."""
    kh, kw = window
    planes = _planes(x, window, out_hw)
    rows = _scratch("pool_rowmax", planes.shape[:1] + planes.shape[2:], x.dtype)
    for i in range(kh):
        _reduce([planes[i, j] for j in range(kw)], np.maximum, rows[i])
    if out is None:
        out = _scratch("pool_out", rows.shape[1:], x.dtype)
    out = _reduce(list(rows), np.maximum, out)
    return planes, out, rows


def _first_hits(views, target, grad, dests, tag):
    """Write into ``dests[k]`` the part of ``grad`` whose first match with ``target`` is ``views[k]``; the last view
    takes what remains.

    What remains is kept in the last destination (``rest - taken`` is exactly 0 or ``rest``), so every destination
    is written from one product or difference, with no copy at the end.
    """
    if len(views) == 1:
        np.copyto(dests[0], grad)
        return
    mask = _scratch(tag + "_hit", grad.shape, bool)
    rest = grad
    for view, dest in zip(views[:-1], dests[:-1], strict=True):
        np.equal(view, target, out=mask)
        np.multiply(rest, mask, out=dest)
        rest = np.subtract(rest, dest, out=dests[-1])


def _tiled_max_backward(dout, x, window, out_hw):
    """:func:`max_pool2d_backward` for stride = size, in the two steps of :func:`_tiled_max`: ``dout`` goes to the
    first window row holding the window's maximum, then within that row to the first column holding the row's
    maximum (the same element: row-major order within the window). The comparisons run on the contiguous
    :func:`_planes`, and each window row's gradients are copied into their views of ``dx`` (slightly faster than
    writing the products straight into those views). A window holding NaN has no maximum: its gradient goes to its
    last row (and there to the last element if that row holds the NaN). Block by block of images
    (:func:`_image_blocks`); 2x2 windows that tile ``x`` go :func:`_pair_backward`'s flat route instead.
    """
    (kh, kw), (ho, wo) = window, out_hw
    h, w = x.shape[2:]
    hc, wc = ho * kh, wo * kw
    dx = (np.empty if (hc, wc) == (h, w) else np.zeros)(x.shape, dtype=x.dtype)
    pairs = _pairs(x, window, out_hw)
    for block in _image_blocks(x):
        dxb = dx[block]
        if pairs:
            _pair_backward(dout[block], x[block], dxb, out_hw)
            continue
        planes, out, rows = _tiled_max(x[block], window, out_hw)
        row_grad = _scratch("pool_row_grad", rows.shape, x.dtype)
        _first_hits(list(rows), out, dout[block], list(row_grad), "row")
        cell = _scratch("pool_cell_grad", (kw,) + rows.shape[1:], x.dtype)
        for i in range(kh):
            _first_hits([planes[i, j] for j in range(kw)], rows[i], row_grad[i], list(cell), "col")
            for j in range(kw):
                np.copyto(dxb[:, :, i:hc:kh, j:wc:kw], cell[j])
    return dx


def sum_pool2d_backward(dout, x, size=2, stride=None):
    """Gradient of :func:`sum_pool2d` with respect to ``x``: every element of a window receives its ``dout``.

    Inputs as :func:`max_pool2d_backward`: ``dout (N, C, H', W')``, ``x (N, C, H, W)``.
    Returns ``dx`` of shape ``(N, C, H, W)``.
    """
    x, window, stride, out_hw = _geometry(x, size, stride)
    dout = _checked_dout(dout, x, out_hw)
    dtype = same_float_dtype(x, dout)
    dx = _spread(np.zeros(x.shape, dtype=dtype), dout, window, stride, out_hw)
    return dx


def avg_pool2d_backward(dout, x, size=2, stride=None):
    """Gradient of :func:`avg_pool2d` with respect to ``x``: every element of a window gets ``dout / (KH * KW)``.

    Inputs as :func:`max_pool2d_backward`: ``dout (N, C, H', W')``, ``x (N, C, H, W)``.
    Returns ``dx`` of shape ``(N, C, H, W)``.
    """
    x, window, stride, out_hw = _geometry(x, size, stride)
    dout = _checked_dout(dout, x, out_hw)
    dtype = same_float_dtype(x, dout)
    g = np.divide(dout, window[0] * window[1], dtype=dtype)
    dx = _spread(np.zeros(x.shape, dtype=dtype), g, window, stride, out_hw)
    return dx
