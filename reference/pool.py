"""Pooling layers: max, average and sum over windows of each channel, and their backward passes.

Shapes follow the glossary of :mod:`reference._checks`: ``x`` is ``(N, C, H, W)``, the window is ``KH x KW``
(``size``), the stride ``SH, SW`` defaults to the window, and the output is ``(N, C, H', W')`` with
``H' = (H - KH) // SH + 1`` and ``W' = (W - KW) // SW + 1`` (pooling never pads; rows and columns that no
window reaches get no output and a zero gradient).

Every function walks the ``KH * KW`` offsets of the window rather than the ``H' * W'`` windows: the offset
``(i, j)`` of every window at once is the strided sub-grid ``x[:, :, i::SH, j::SW]`` (cut to ``H' x W'``), so a
2x2 max pool is three ``np.maximum`` calls over four views, with no copy of ``x`` and no Python loop over pixels.

Max pooling with windows that tile the input (stride = size, the common case) takes two steps instead, which
compute the same result faster (:func:`_tiled_max`): first across the ``KW`` columns of each window row, then
across the ``KH`` rows. Why (measured, N64 C16 28x28 2x2 float64, one core): each view of the first step is one long
run with a constant stride (NumPy's inner loop then spans the whole array, where a 2-D offset view restarts it
every ``W'`` values), and the backward pass writes each element of ``dx`` once from a float mask instead of
multiplying by a bool mask (a cast NumPy buffers) over every offset: forward+backward 6.4 -> ~4 ms.
"""
from __future__ import annotations

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


def _reduce(views, ufunc):
    """``ufunc`` folded over ``views`` into one new array (one pass per view, no temporaries)."""
    if len(views) == 1:
        return views[0].copy()
    out = ufunc(views[0], views[1])
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
        for block in _image_blocks(x):
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


def _tiled_max(x, window, out_hw, out=None):
    """Max pooling of ``x`` (N, C, H, W) with stride = size: the views of its window columns, each (N, C, Hc, W')
    with ``Hc = H' * KH``; the pooled ``out`` (N, C, H', W'), written into ``out`` when given; and the maxima of
    the window rows, ``rows`` (N, C, H', KH, W').

    ``rows`` (and ``out`` unless given) are scratch buffers, valid until the next call."""
    (kh, kw), (ho, wo) = window, out_hw
    n, c = x.shape[:2]
    cols = [x[:, :, :ho * kh, j:wo * kw:kw] for j in range(kw)]
    rowmax = _reduce_into(cols, _scratch("pool_rowmax", (n, c, ho * kh, wo), x.dtype))
    rows = rowmax.reshape(n, c, ho, kh, wo)
    if out is None:
        out = _scratch("pool_out", (n, c, ho, wo), x.dtype)
    out = _reduce_into([rows[:, :, :, i] for i in range(kh)], out)
    return cols, out, rows


def _reduce_into(views, out):
    """The elementwise maximum of ``views`` written into ``out``."""
    if len(views) == 1:
        np.copyto(out, views[0])
        return out
    np.maximum(views[0], views[1], out=out)
    for v in views[2:]:
        np.maximum(out, v, out=out)
    return out


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
    maximum (the same element: row-major order within the window). Every view compared in the second step is one
    long strided run, as the row maxima are laid out like the columns. A window holding NaN has no maximum: its
    gradient goes to its last row (and there to the last element if that row holds the NaN). Block by block of
    images (:func:`_image_blocks`).
    """
    (kh, kw), (ho, wo) = window, out_hw
    h, w = x.shape[2:]
    hc = ho * kh
    dx = (np.empty if (hc, wo * kw) == (h, w) else np.zeros)(x.shape, dtype=x.dtype)
    for block in _image_blocks(x):
        xb, dxb = x[block], dx[block]
        n, c = xb.shape[:2]
        cols, out, rows = _tiled_max(xb, window, out_hw)
        row_grad = _scratch("pool_row_grad", (n, c, ho, kh, wo), x.dtype)
        _first_hits([rows[:, :, :, i] for i in range(kh)], out, dout[block], [row_grad[:, :, :, i] for i in range(kh)],
                    "row")
        _first_hits(cols, rows.reshape(n, c, hc, wo), row_grad.reshape(n, c, hc, wo),
                    [dxb[:, :, :hc, j:wo * kw:kw] for j in range(kw)], "col")
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
