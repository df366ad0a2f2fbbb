"""The im2col + GEMM route behind :mod:`reference.conv`, processed a few images at a time.

Nothing here checks its input: the public functions in :mod:`reference.conv` do, then call these with
already-padded float arrays. Shape letters follow the glossary in :mod:`reference._checks`; ``P = H' * W'``,
``K = C * KH * KW``.

Why blocks of images (measured on the project's 2-core AVX-512 machine, 1 thread, interleaved with torch):

* The column matrix of a whole batch is megabytes (shape N64 C1 28x28 K5: 5 MB in float32). Written in one go it
  spills out of the L2 cache before the GEMM reads it back, and, allocated fresh, costs a page fault per 4 KiB
  (torch's own allocations between two calls make glibc hand the memory back). Filling the columns of
  :func:`_images_per_block` images into one reused scratch buffer and multiplying them at once keeps both in L2:
  forward f32 of that shape 0.92 -> 0.47 ms.
* The columns of a block are one ``np.copyto`` from a strided view of the input (:func:`_windows` in the strided
  backward), one call instead of ``KH*KW`` slice copies.
* At stride 1, :func:`forward_rows` lays each image out flat with rows a little wider than ``W'``, so each column
  row is one long contiguous run (forward f32 of that shape 0.47 -> 0.33 ms); strided layers split the input into
  phases to the same end (:mod:`reference._conv_phase`).
* The forward GEMM writes each block's ``(F, P)`` products straight into the NCHW output, with the bias as an extra
  column of weights against a row of ones. The backward reuses the same column layout: ``dw`` (and, through the same
  row of ones, ``db``) accumulates one small GEMM per image; ``dcols = w.T @ dout`` goes back to the unpadded ``dx``
  by contiguous runs: at stride 1 one overlap reduction (:func:`_overlap_views`), at any stride the taps summed
  group by group (:func:`_group_sums`) and each group copied or added into its phase of ``dx``.
"""
from __future__ import annotations

import functools

import numpy as np
from numpy.lib.stride_tricks import as_strided

from reference._conv_impl import _per_block, _scratch

__all__ = []  # private module: the public API is reference.conv

# Bytes of column matrix per block: about the L2 cache of one core (1 MiB here) less room for the GEMM's packing.
# Measured on shape N64 C1 28x28 K5 float32: 1, 2, 4, 8, 16 images per block -> 0.60, 0.51, 0.48, 0.47, 0.50 ms.
_BLOCK_BYTES = 768 * 1024


def _images_per_block(n: int, bytes_per_image: int, scale: int = 1) -> int:
    """How many images' columns fit in ``scale`` times :data:`_BLOCK_BYTES` (at least 1, at most ``n``).

    ``scale`` is the autotuner's knob (:mod:`reference._conv_plan`): the best block is about one core's L2 cache,
    which differs between CPUs (1 MiB on the machine the default was measured on, 2 MiB on others)."""
    return _per_block(n, bytes_per_image, _BLOCK_BYTES * scale)


def _windows(xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, ho: int, wo: int) -> np.ndarray:
    """Read-only view (N, C, KH, KW, H', W') of padded ``xp`` (N, C, Hp, Wp): ``[n, c, i, j, y, x]`` is
    ``xp[n, c, y*SH + i, x*SW + j]``, the input under kernel tap (i, j) for output pixel (y, x). No copy."""
    s0, s1, s2, s3 = xp.strides
    n, c = xp.shape[:2]
    return as_strided(xp, (n, c, kh, kw, ho, wo), (s0, s1, s2, s3, s2 * sh, s3 * sw), writeable=False)


def _fill_columns(cols: np.ndarray, windows: np.ndarray, k: int) -> None:
    """Copy ``windows`` (M, C, KH, KW, H', W') into rows ``:k`` of ``cols`` (M, K + 1, P); row ``k`` is ones."""
    m = windows.shape[0]
    np.copyto(cols[:m, :k].reshape(windows.shape), windows)
    cols[:m, k] = 1


def forward_im2col(xp: np.ndarray, w: np.ndarray, b: np.ndarray, stride, ho: int, wo: int,
                   scale: int = 1) -> np.ndarray:
    """Cross-correlation plus bias of the PADDED ``xp`` (N, C, Hp, Wp) at any stride -> (N, F, H', W'), contiguous.

    Textbook im2col: the columns are exactly ``P = H' * W'`` wide (no extra columns, unlike :func:`forward_rows`
    and :mod:`reference._conv_phase`), filled from the strided :func:`_windows` view in runs of ``W'`` values.
    Fewer flops, a slower fill: it wins where the GEMM dominates (many channels) on a CPU with fast GEMM kernels.
    """
    n = xp.shape[0]
    f, _, kh, kw = w.shape
    windows = _windows(xp, kh, kw, stride[0], stride[1], ho, wo)
    return _blocked_gemm(windows, w, b, ho * wo, "gemm_cols", scale).reshape(n, f, ho, wo)


def _blocked_gemm(windows: np.ndarray, w: np.ndarray, b: np.ndarray, width: int, tag: str, scale: int) -> np.ndarray:
    """``[W | b] @ [columns; 1]`` per image -> (N, F, width): the columns of a block of images filled from
    ``windows`` (N, C, KH, KW, ...) into the cached buffer ``tag``, one GEMM per block of images."""
    n = windows.shape[0]
    f, c, kh, kw = w.shape
    k = c * kh * kw
    nb = _images_per_block(n, (k + 1) * width * windows.itemsize, scale)
    cols = _scratch(tag, (nb, k + 1, width), windows.dtype)
    wb = np.concatenate([w.reshape(f, k), b[:, None]], axis=1)          # (F, K + 1): bias against the ones row
    out = np.empty((n, f, width), dtype=windows.dtype)
    for start in range(0, n, nb):
        stop = min(n, start + nb)
        _fill_columns(cols, windows[start:stop], k)
        np.matmul(wb, cols[:stop - start], out=out[start:stop])
    return out


def _row_pitch(w: int, pw: int, wo: int) -> int:
    """Flat distance ``S`` between two image rows in :func:`forward_rows`: the row plus ``PW`` zeros, which serve as
    the right padding of one row and the left padding of the next (wrapping around), and at least ``W'``."""
    return max(w + pw, wo)


def forward_rows(x: np.ndarray, w: np.ndarray, b: np.ndarray, pad, ho: int, wo: int, scale: int = 1) -> np.ndarray:
    """Stride-1 cross-correlation plus bias of the UNPADDED ``x`` (N, C, H, W), padding ``pad`` = (PH, PW) ->
    (N, F, H', W'),
    a view with rows ``S`` = :func:`_row_pitch` apart (last axis contiguous, the rest not).

    Every image sits in a flat zeroed buffer with rows ``S`` apart, ``PW`` zeros between rows and ``PH`` zero rows
    above and below. Output pixel ``q = y*S + x`` of a grid ``S`` wide then reads flat position ``q + i*S + j``
    under tap (i, j), so each row of the column matrix is ONE contiguous run of ``H' * S`` values instead of ``H'``
    runs of ``W'``: the fill moves a few long runs instead of tens of thousands of short ones (shape N64 C1 28x28
    K5 float32: fill 0.22 -> 0.10 ms, the whole forward 0.47 -> 0.33 ms). The ``S - W'`` extra columns per row
    (2 of 30 there) are computed and dropped; the output is a view of them rather than a copy because that copy,
    ``W'`` values at a time, costs as much as it saves (0.11 ms there). Measured downstream: ReLU and its backward
    on the view cost ~0.1 ms more each there, the capstone's training is unchanged (2.47 -> 2.39 s).
    Only the interior of the flat buffer is ever written, so its zeros are set once, when the cached buffer is made
    (its tag carries the layout, so no other layout writes into this one's gaps).
    """
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    ph, pw = pad
    s = _row_pitch(wd, pw, wo)
    span = ho * s
    # Long enough for every read ((Hp - 1)*S + Wp <= Hp*S + KW - 1 as S >= W') and for the image's own rows, which
    # end at PW + (PH + H)*S: past the reads when PH = 0 and PW >= KW (a 1x1 kernel with side padding).
    size = max((h + 2 * ph) * s + kw - 1, pw + (ph + h) * s)
    flat = _scratch(f"rows_flat_{h}_{wd}_{ph}_{pw}_{s}", (n, c, size), x.dtype, zeroed=True)
    flat[:, :, pw + ph * s:pw + (ph + h) * s].reshape(n, c, h, s)[..., :wd] = x
    s0, s1, e = flat.strides
    windows = as_strided(flat, (n, c, kh, kw, span), (s0, s1, s * e, e, e), writeable=False)
    return _blocked_gemm(windows, w, b, span, "rows_cols", scale).reshape(n, f, ho, s)[..., :wo]


def _padded_scratch(tag: str, x: np.ndarray, pad, extra_rows: int = 0) -> np.ndarray:
    """``x`` (N, C, H, W) zero-padded by ``pad`` = (PH, PW), plus ``extra_rows`` zero rows at the bottom, in a cached
    buffer: only its interior is ever written, so the padding stays zero from the allocation (the tag names the
    padding, so no other padding writes into these zeros). A fresh padded copy per call cost 0.08 of 2.3 ms on
    shape N32 C3 32x32 K3 s2 float64."""
    (n, c, h, w), (ph, pw) = x.shape, pad
    out = _scratch(f"{tag}_{ph}_{pw}_{extra_rows}", (n, c, h + 2 * ph + extra_rows, w + 2 * pw), x.dtype, zeroed=True)
    out[:, :, ph:ph + h, pw:pw + w] = x
    return out


def backward_rows(dout: np.ndarray, x: np.ndarray, w: np.ndarray, pad,
                  scale: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stride-1 gradients ``(dx, dw, db)`` of the UNPADDED ``x`` (N, C, H, W), padding ``pad``, every image flattened
    at the padded row width ``Wp``.

    At stride 1, output pixel ``q = y*Wp + x`` of a grid ``Wp`` wide reads flat input ``q + i*Wp + j`` under tap
    (i, j): each column row is one contiguous run of ``L = H' * Wp`` values, and so is each tap's share of the
    col2im, which then moves long runs instead of ``W'``-long ones (measured: shape N64 C1 28x28 K5 float64, col2im
    2.5 -> 0.5 ms). The ``Wp - W'`` extra columns per row are padded with zeros in ``dout``, so what they read
    (the next row's start) is multiplied by zero in ``dw`` and what they write lands in padding that is cropped.
    The input is padded straight into a cached buffer with one more zero row (so the last image's extra reads stay
    inside it), and ``dout`` is widened one block of images at a time into a buffer the block's GEMMs read while it
    is still in cache (widening all of it first cost 0.7 of 5.2 ms on that shape).
    """
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    _, _, ho, wo = dout.shape
    (ph, pw), k = pad, c * kh * kw
    hp, wp = h + 2 * ph, wd + 2 * pw
    span = ho * wp
    xw = _padded_scratch("rows_x", x, pad, extra_rows=1)
    s0, s1, _, s3 = xw.strides
    windows = as_strided(xw, (n, c, kh, kw, span), (s0, s1, wp * s3, s3, s3), writeable=False)
    nb = _images_per_block(n, (2 * k + 1 + c) * span * x.itemsize, scale)
    # Columns wo: of each row stay zero (the tag names W', so no call with other extra columns shares it).
    wide = _scratch(f"rows_dout_{wo}", (nb, f, ho, wp), x.dtype, zeroed=True)
    cols = _scratch("rows_cols", (nb, k + 1, span), x.dtype)
    dwb_parts = _scratch("gemm_dwb", (n, f, k + 1), x.dtype)          # summed once at the end: 1 call, not 1 a block
    wt = np.ascontiguousarray(w.reshape(f, k).T)                         # (K, F)
    taps_out, taps_sum = _overlap_views(nb, c, kh, kw, hp, wp, span, x.dtype)
    dxw_buf = _scratch("rows_dxw", (nb, c, taps_sum.shape[-1]), x.dtype)
    dx = np.empty_like(x)
    for start in range(0, n, nb):
        stop = min(n, start + nb)
        m = stop - start
        wide[:m, :, :, :wo] = dout[start:stop]
        block = wide[:m].reshape(m, f, span)
        _fill_columns(cols, windows[start:stop], k)
        np.matmul(block, cols[:m].transpose(0, 2, 1), out=dwb_parts[start:stop])
        np.matmul(wt, block, out=taps_out[:m])
        dxw = np.sum(taps_sum[:m], axis=(2, 3), out=dxw_buf[:m])[:, :, :hp * wp].reshape(m, c, hp, wp)
        dx[start:stop] = dxw[:, :, ph:ph + h, pw:pw + wd]
    dwb = dwb_parts.sum(axis=0)
    return dx, dwb[:, :k].reshape(w.shape), np.ascontiguousarray(dwb[:, k])


def _overlap_views(nb: int, c: int, kh: int, kw: int, hp: int, wp: int, span: int, dtype):
    """Two views of one zero-initialised scratch buffer that make col2im a single reduction at stride 1.

    ``taps_out`` (NB, K, L) is where the GEMM ``w.T @ dout`` writes tap (c, i, j)'s row of ``L = H' * Wp`` values;
    ``taps_sum`` (NB, C, KH, KW, U), ``U = Hp * Wp + KW - 1``, sees that row shifted right by ``i*Wp + j``, the flat
    offset where tap (i, j) adds into the padded input, with zeros elsewhere; summing it over (KH, KW) is the whole
    col2im in one call instead of ``KH*KW`` slice additions (a few thousand elements each, so call overhead
    dominated). Rows are ``R = U`` apart in the GEMM view and ``R - 1`` apart in the sum view: each tap's start
    moves one place right per row (the ``j`` shift); the ``i*Wp`` shift comes from the KH stride. Positions no GEMM
    writes stay zero from the allocation, so the buffer is cached under its own tag.
    """
    u = hp * wp + kw - 1
    row = u + 1                                                         # R + 1: one slot per tap, wide enough for U
    # The tag names the whole layout: a buffer of the same size laid out otherwise has its data in these gaps.
    buf = _scratch(f"rows_taps_{c}_{kh}_{kw}_{row}_{span}", (nb, c * kh * kw * row), dtype, zeroed=True)
    e = buf.itemsize
    taps_out = as_strided(buf, (nb, c * kh * kw, span), (buf.strides[0], row * e, e))
    taps_sum = as_strided(buf, (nb, c, kh, kw, u),
                          (buf.strides[0], kh * kw * row * e, (kw * row - wp) * e, (row - 1) * e, e), writeable=False)
    return taps_out, taps_sum


def backward_strided(dout: np.ndarray, x: np.ndarray, w: np.ndarray, stride, pad,
                     scale: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients ``(dx, dw, db)`` of the conv layer at any stride for ``dout`` (N, F, H', W'), the UNPADDED ``x``
    (N, C, H, W), padding ``pad`` = (PH, PW), and ``w`` (F, C, KH, KW) -> (N, C, H, W), (F, C, KH, KW), (F,).

    ``x`` is padded straight into a cached buffer (:func:`_padded_scratch`).

    Per block: the ``dw|db`` parts ``dout[n] @ [cols[n]; 1].T`` (one GEMM per image, summed at the end), ``dcols =
    w.T @ dout`` (one batched GEMM, its rows in the order of :func:`_tap_groups`, laid out (K, M, L) so that the rows
    of one tap for the whole block are one run), then :func:`_group_sums` does the col2im.
    """
    n, c = x.shape[:2]
    f, _, kh, kw = w.shape
    _, _, ho, wo = dout.shape
    k, p = c * kh * kw, ho * wo
    xp = _padded_scratch("strided_x", x, pad)
    groups, order, extra = _tap_groups(c, kh, kw, *stride)
    pitch = (ho + extra) * wo                                           # L: H' rows plus room for the row shifts
    dout = np.ascontiguousarray(dout).reshape(n, f, p)
    nb = _images_per_block(n, ((k + 1) * p + k * pitch) * xp.itemsize, scale)
    cols = _scratch("gemm_cols", (nb, k + 1, p), xp.dtype)
    # The GEMM writes columns :p of each row; columns p: stay zero from the allocation (the tag names the layout)
    # except in the rows _group_sums adds into, which it zeroes again before each use.
    dcols = _scratch(f"gemm_dcols_{p}_{pitch}", (k, nb, pitch), xp.dtype, zeroed=True)
    dwb_parts = _scratch("gemm_dwb", (n, f, k + 1), xp.dtype)           # summed once at the end
    windows = _windows(xp, kh, kw, stride[0], stride[1], ho, wo)
    wt = np.ascontiguousarray(w.reshape(f, k)[:, order].T)               # (K, F), rows in group order
    dx = np.zeros(x.shape, dtype=x.dtype)
    for start in range(0, n, nb):
        stop = min(n, start + nb)
        m = stop - start
        _fill_columns(cols, windows[start:stop], k)
        np.matmul(dout[start:stop], cols[:m].transpose(0, 2, 1), out=dwb_parts[start:stop])
        np.matmul(wt, dout[start:stop], out=dcols[:, :m, :p].transpose(1, 0, 2))
        _group_sums(dx[start:stop], dcols[:, :m], groups, stride, pad, ho, wo)
    dwb = dwb_parts.sum(axis=0)
    return dx, dwb[:, :k].reshape(w.shape), np.ascontiguousarray(dwb[:, k])


@functools.lru_cache(maxsize=64)
def _tap_groups(c: int, kh: int, kw: int, sh: int, sw: int):
    """The kernel taps grouped for :func:`_group_sums`: ``groups``, ``order`` (K,) and ``extra``.

    Tap (i, j) adds into input pixels ``(y*SH + i, x*SW + j)``: rows of phase ``a = i % SH`` at phase row
    ``y + i // SH``, columns of phase ``b = j % SW`` at phase column ``x + j // SW``. A group is the taps of one
    phase ``(a, b)`` with one column shift ``j // SW``: their sums differ only by whole rows. Each group is
    ``(a, b, dj, dis)``, ``dis`` its row shifts, tap ``di = 0`` first; ``order`` lists the weight columns (c, i, j)
    group by group, tap by tap, channel by channel; ``extra = (KH - 1) // SH``, the largest row shift.
    """
    groups, order = [], []
    for a in range(min(sh, kh)):
        for b in range(min(sw, kw)):
            for dj in range(len(range(b, kw, sw))):
                dis = tuple(range(len(range(a, kh, sh))))
                groups.append((a, b, dj, dis))
                order += [(ch * kh + a + di * sh) * kw + b + dj * sw for di in dis for ch in range(c)]
    return tuple(groups), np.array(order), (kh - 1) // sh


def _group_sums(dx: np.ndarray, dcols: np.ndarray, groups, stride, pad, ho: int, wo: int) -> None:
    """col2im of one block: ``dcols`` (K, M, L), rows in :func:`_tap_groups` order, added into the unpadded ``dx``
    (M, C, H, W). ``dcols`` is overwritten with partial sums.

    Each tap's rows for the block are one run of ``C*M*L`` values, each image's ``H'*W'`` then ``L - H'*W'``
    zeros. A group's sum is its first tap's run, in place, plus its other taps' runs shifted by whole rows
    (``di*W'`` values, within the zeros): every addition is one contiguous run, and nothing crosses into the next
    image. Within a phase, the groups' sums differ by a column shift: they are added into the one with the largest
    shift as runs too, then that sum is copied into the phase's rows and columns of ``dx`` (what a
    smaller shift puts left of it is added there). Measured on shape N32 C3 32x32 K3 p1 s2 float64: NumPy pays
    per inner loop, ~3 ns an element in runs of ``W'`` values ``SW`` apart; adding each tap into ``dx`` that way cost
    2x this whole function, adding each group's sum into ``dx`` 1.6x, adding the sums by rows of ``W'`` 1.3x.
    """
    (sh, sw), (ph, pw) = stride, pad
    m, c, h, wd = dx.shape
    pitch = dcols.shape[2]
    rows, size = pitch // wo, m * pitch
    runs = dcols.reshape(-1, size)     # a view: the image axis is L apart and L long, so it merges with the next
    grids = dcols.reshape(-1, m, rows, wo)
    firsts: dict = {}                  # (a, b) -> [(dj, first row of the group)]
    row = 0
    for a, b, dj, dis in groups:
        firsts.setdefault((a, b), []).append((dj, row))
        grids[row:row + c, :, ho:] = 0                                  # the zeros the shifted runs land in
        for di in dis[1:]:
            shift = di * wo
            runs[row:row + c, shift:] += runs[row + di * c:row + (di + 1) * c, :size - shift]
        row += len(dis) * c
    for (a, b), parts in firsts.items():
        u0, v0 = (a - ph) % sh, (b - pw) % sw
        y0, x0 = (u0 + ph) // sh, (v0 + pw) // sw                       # phase row/column of dx[.., u0, v0]
        ny, nx = min(len(range(u0, h, sh)), rows - y0), len(range(v0, wd, sw))
        if ny <= 0 or nx <= 0:
            continue
        top, base = max(parts)                                          # the largest column shift: the sum
        target = dx[:, :, u0::sh, v0::sw][:, :, :ny]
        for dj, first in parts:
            # Column x of the sum takes column x + lag of this group: one run shifted by lag, except that the last
            # lag columns of each row would take the next row's first ones; they are put back. With a lag of W' or
            # more they have no column in common: that group goes in whole with the columns left of the sum.
            lag = top - dj
            if 0 < lag < wo:
                kept = grids[base:base + c, :, :, wo - lag:].copy()
                runs[base:base + c, :size - lag] += runs[first:first + c, lag:]
                grids[base:base + c, :, :, wo - lag:] = kept
        # Column X of the phase holds group column x = X - shift: the sum covers X in [top, W' + top).
        xs, xe = max(x0, top), min(x0 + nx, wo + top)
        if xe > xs:
            target[:, :, :, xs - x0:xe - x0] = grids[base:base + c, :, y0:y0 + ny, xs - top:xe - top].transpose(
                1, 0, 2, 3)
        for dj, first in parts:                                         # left of the sum: smaller shifts alone
            ls, le = max(x0, dj), min(x0 + nx, top, wo + dj)
            if dj < top and le > ls:
                target[:, :, :, ls - x0:le - x0] += grids[first:first + c, :, y0:y0 + ny, ls - dj:le - dj].transpose(
                    1, 0, 2, 3)
