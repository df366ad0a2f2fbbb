"""Strided conv forward by polyphase decomposition: every im2col row one contiguous run, as at stride 1.

Nothing here checks its input: :mod:`reference.conv` does, then calls :func:`forward`. Shape letters follow the
glossary in :mod:`reference._checks`; ``Hp, Wp`` are the padded sizes.

Why: the plain strided im2col (a 6-D strided view copied into the columns) has inner loops of ``W'`` values read
``SW`` apart, tens of thousands of short strided runs; that fill, not the GEMM, was the cost of a strided layer
(shape N32 C3 32x32 K3 p1 s2 float32: 1.45x torch). Split the padded input into its ``SH*SW`` phases
``xp[:, :, a::SH, b::SW]``: kernel tap (i, j) reads phase ``(i % SH, j % SW)`` at offset ``(i // SH, j // SW)``, so
output pixel (y, x) under that tap is ``phase[y + i//SH, x + j//SW]``, a stride-1 access. With each phase stored
flat with rows ``S`` apart, output pixel ``q = y*S + x`` of a grid ``S`` wide reads flat ``q + (i//SH)*S + j//SW``
of its phase, so every column row is ONE run of ``H' * S`` values (the ``S - W'`` extra columns per row are computed
and dropped, as in :func:`reference._conv_gemm.forward_rows`).

:func:`backward` is the adjoint on the same layout: ``dout`` laid out on the same grid ``S`` wide (zeros in the extra
columns), each tap's gradient added into its phase as one long run, the phases written back into ``dx``. The plain
strided col2im instead adds each tap in runs of ``W'`` values ``SW`` apart (shape N32 C3 32x32 K3 p1 s2 float64:
col2im 0.8 of 2.6 ms).
"""
from __future__ import annotations

import functools

import numpy as np

from reference._conv_impl import _per_block, _scratch

__all__ = []  # private module: the public API is reference.conv

# Bytes of column matrix per block: more than reference._conv_gemm uses, because strided layers are small and each block
# costs ~10 us of calls (a copy per phase, the ones row, the GEMM). Measured on shape N32 C3 32x32 K3 p1 s2 float32
# (1.1 MB of columns), interleaved with torch: 768 KiB (25 + 7 images) 167 us, one block 156 us.
_BLOCK_BYTES = 2 * 1024 * 1024


def _phase_grid(hp: int, wp: int, kh: int, kw: int, sh: int, sw: int):
    """Layout of the phases of an (Hp, Wp) padded image: ``(PA, PB, HQ, S, tail)``.

    Only phases some tap reads are kept: ``PA = min(SH, KH)`` row phases and ``PB = min(SW, KW)`` column phases
    (a 1x1 kernel at stride 2 reads one phase of four). Each phase gets ``HQ = ceil(Hp / SH)`` rows ``S = ceil(Wp /
    SW)`` apart, the size of the largest phase (phase 0), so all share one geometry; the smaller ones keep a zero
    row/column. The extra output columns of the last row of the last phase read up to ``(KW - 1) // SW`` values past
    its end: ``tail`` zeros keep those reads inside the buffer.
    """
    return min(sh, kh), min(sw, kw), -(-hp // sh), -(-wp // sw), (kw - 1) // sw


def _fill_phases(flat: np.ndarray, x: np.ndarray, pad, stride, pa: int, pb: int, hq: int, s: int) -> None:
    """Write the unpadded ``x`` (N, C, H, W) into the phases of ``flat`` (N, C, PA*PB*HQ*S + tail).

    Input row ``u`` is padded row ``u + PH``, so it belongs to row phase ``(u + PH) % SH`` at phase row
    ``(u + PH) // SH``; rows ``u0, u0 + SH, ...`` with ``u0 = (a - PH) % SH`` make up phase ``a``. Likewise for
    columns. One strided copy per kept phase; the padding is never written, so it stays zero from the allocation.
    """
    (ph, pw), (sh, sw) = pad, stride
    n, c, h, wd = x.shape
    grid = flat[:, :, :pa * pb * hq * s].reshape(n, c, pa, pb, hq, s)
    for a in range(pa):
        u0 = (a - ph) % sh
        t0 = (u0 + ph) // sh
        rows = len(range(u0, h, sh))
        for b in range(pb):
            v0 = (b - pw) % sw
            r0 = (v0 + pw) // sw
            cols = len(range(v0, wd, sw))
            if rows and cols:
                grid[:, :, a, b, t0:t0 + rows, r0:r0 + cols] = x[:, :, u0::sh, v0::sw]


@functools.lru_cache(maxsize=64)
def _plan(c: int, kh: int, kw: int, sh: int, sw: int, pa: int, pb: int, plane: int):
    """Per kept phase ``(offset, KI, KJ, lo, hi)``: where its plane starts in an image's channel (elements), its
    taps along H and W, its rows ``[lo, hi)`` of the columns; and ``perm`` (K,), the weight columns in that order.

    Cached per geometry: rebuilding these lists and the weights by slicing cost ~15 us a call, a tenth of the layer.
    Column order: phase by phase, within one ``(c, i//SH, j//SW)``, matching the window views of :func:`forward`.
    """
    taps = np.arange(c * kh * kw).reshape(c, kh, kw)
    phases, parts, lo = [], [], 0
    for a in range(pa):
        for b in range(pb):
            part = taps[:, a::sh, b::sw]
            phases.append(((a * pb + b) * plane, part.shape[1], part.shape[2], lo, lo + part.size))
            parts.append(part.ravel())
            lo += part.size
    return tuple(phases), np.concatenate(parts)


def _phase_layout(x: np.ndarray, w: np.ndarray, stride, pad, ho: int):
    """The phases of ``x`` filled into their cached flat buffer (N, C, PA*PB*HQ*S + tail), the read view of each kept
    phase with its rows of the columns, ``perm``, and the sizes ``(S, K, span = H' * S)``."""
    n, c, h, wd = x.shape
    kh, kw = w.shape[2:]
    (sh, sw), (ph, pw) = stride, pad
    pa, pb, hq, s, tail = _phase_grid(h + 2 * ph, wd + 2 * pw, kh, kw, sh, sw)
    plane, span = hq * s, ho * s
    flat = _scratch(f"phase_flat_{h}_{wd}_{ph}_{pw}_{sh}_{sw}_{pa}_{pb}", (n, c, pa * pb * plane + tail), x.dtype,
                    zeroed=True)
    _fill_phases(flat, x, pad, stride, pa, pb, hq, s)
    phases, perm = _plan(c, kh, kw, sh, sw, pa, pb, plane)
    s0, s1, e = flat.strides
    # np.ndarray over the buffer rather than as_strided: a seventh of the call cost (2.7 -> 0.4 us each).
    views = [(np.ndarray((n, c, ki, kj, span), x.dtype, flat, off * e, (s0, s1, s * e, e, e)), lo, hi)
             for off, ki, kj, lo, hi in phases]
    return flat, phases, views, perm, (pa, pb, hq, s), span


def _fill_block(cols: np.ndarray, views, start: int, stop: int, k: int) -> None:
    """Columns (M, K + 1, span) of images ``start:stop``: one copy per kept phase, then the row of ones."""
    m = stop - start
    for view, lo, hi in views:
        np.copyto(cols[:m, lo:hi].reshape(m, *view.shape[1:]), view[start:stop])
    cols[:m, k] = 1


def forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride, pad, ho: int, wo: int, scale: int = 1) -> np.ndarray:
    """Cross-correlation of the UNPADDED ``x`` (N, C, H, W) with ``w`` (F, C, KH, KW) plus ``b`` (F,) at ``stride``
    (SH, SW), zero padding ``pad`` (PH, PW) -> (N, F, H', W'), a view with rows ``S`` apart (last axis contiguous).

    The columns of a block of images are one ``np.copyto`` per kept phase from a view (M, C, KI, KJ, H'*S) whose
    last axis is contiguous (``KI``, ``KJ``: the taps of that phase), then one batched GEMM with the bias folded in.
    The phase buffer is cached under a tag carrying its layout, so its padding zeros are written once.
    """
    n, f, k = x.shape[0], w.shape[0], w[0].size
    _, _, views, perm, (_, _, _, s), span = _phase_layout(x, w, stride, pad, ho)
    nb = _per_block(n, (k + 1) * span * x.itemsize, _BLOCK_BYTES * scale)
    cols = _scratch("phase_cols", (nb, k + 1, span), x.dtype)
    wb = np.empty((f, k + 1), dtype=x.dtype)                              # bias last, against the row of ones
    wb[:, :k] = w.reshape(f, k)[:, perm]
    wb[:, k] = b
    out = np.empty((n, f, span), dtype=x.dtype)
    for start in range(0, n, nb):
        stop = min(n, start + nb)
        _fill_block(cols, views, start, stop, k)
        np.matmul(wb, cols[:stop - start], out=out[start:stop])
    return out.reshape(n, f, ho, s)[..., :wo]


def backward(dout: np.ndarray, x: np.ndarray, w: np.ndarray, stride, pad,
             scale: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients ``(dx, dw, db)`` of :func:`forward` for ``dout`` (N, F, H', W'), the UNPADDED ``x`` (N, C, H, W) and
    ``w`` (F, C, KH, KW) -> (N, C, H, W), (F, C, KH, KW), (F,).

    Per block: ``dw|db += dout[n] @ [cols[n]; 1].T`` on the grid ``S`` wide (the extra columns of ``dout`` are zero,
    so what they read does not count); ``dcols = w.T @ dout`` (phase-ordered rows) written ``R`` apart into zeros;
    each phase's gradient is then ONE sum over its taps of views shifted by the offset the forward reads each tap at,
    written straight into the rows and columns of ``dx`` it holds (:func:`_tap_sums`). Adding the
    taps one by one instead, each a (M, C, H'*S) slice, cost 4x more: NumPy arithmetic on views whose rows are not
    contiguous runs several times slower than on whole arrays, copies do not.
    """
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    _, _, ho, wo = dout.shape
    k = c * kh * kw
    _, phases, views, perm, (_, pb, hq, s), span = _phase_layout(x, w, stride, pad, ho)
    grid = _scratch(f"phase_dout_{ho}_{wo}_{s}", (n, f, ho, s), x.dtype, zeroed=True)   # extra columns stay zero
    grid[..., :wo] = dout
    grid = grid.reshape(n, f, span)
    pitch = hq * s + s                                                  # R: room for every tap's shift in zeros
    nb = _per_block(n, (2 * k + 1) * pitch * x.itemsize, _BLOCK_BYTES * scale)
    cols = _scratch("phase_cols", (nb, k + 1, span), x.dtype)
    taps = _scratch(f"phase_taps_{span}_{pitch}", (nb * k + 1, pitch), x.dtype, zeroed=True)
    dwb_parts = _scratch("phase_dwb", (nb, f, k + 1), x.dtype)
    wt = np.ascontiguousarray(w.reshape(f, k)[:, perm].T)                 # (K, F), rows in phase order
    dx = np.zeros(x.shape, dtype=x.dtype)          # rows and columns no tap reads (stride > kernel) stay 0
    dwb = np.zeros((f, k + 1), dtype=x.dtype)
    for start in range(0, n, nb):
        stop = min(n, start + nb)
        m = stop - start
        _fill_block(cols, views, start, stop, k)
        np.matmul(grid[start:stop], cols[:m].transpose(0, 2, 1), out=dwb_parts[:m])
        dwb += dwb_parts[:m].sum(axis=0)
        np.matmul(wt, grid[start:stop], out=taps[1:1 + m * k].reshape(m, k, pitch)[..., :span])
        _tap_sums(dx[start:stop], taps, phases, pad, stride, c, k, s, pb)
    dw = np.empty(w.shape, dtype=x.dtype)
    dw.reshape(f, k)[:, perm] = dwb[:, :k]
    return dx, dw, np.ascontiguousarray(dwb[:, k])


def _tap_sums(dx: np.ndarray, taps: np.ndarray, phases, pad, stride, c: int, k: int, s: int, pb: int) -> None:
    """col2im: sum each phase's tap rows straight into the rows and columns of the unpadded ``dx`` (M, C, H, W) that
    the phase holds, one reduction per phase (the adjoint of :func:`_fill_phases`; padding dropped).

    ``taps`` holds one zero row, then the GEMM's rows ``(image, K)``, ``R`` apart, each ``H'*S`` values followed by
    zeros. The forward reads tap ``(i, j)`` of a phase at plane offset ``i*S + j``; its gradient at plane position
    ``u`` is therefore the tap row's value ``u - i*S - j``, and a view with strides ``(KJ*R - S, R - 1)`` along the
    taps starts each tap's row that much earlier (into the zeros ahead of it), so summing the view over the taps is
    the whole col2im of the phase.
    """
    (ph, pw), (sh, sw) = pad, stride
    m, _, h, wd = dx.shape
    pitch, e = taps.shape[1], taps.itemsize
    for p, (_, ki, kj, lo, _) in enumerate(phases):
        a, b = divmod(p, pb)
        u0, v0 = (a - ph) % sh, (b - pw) % sw
        rows, cols = len(range(u0, h, sh)), len(range(v0, wd, sw))
        if not (rows and cols):
            continue
        # Plane position of dx[.., u0, v0]: phase row (u0 + PH) // SH, phase column (v0 + PW) // SW.
        first = (1 + lo) * pitch + (u0 + ph) // sh * s + (v0 + pw) // sw
        view = np.ndarray((m, c, ki, kj, rows, cols), taps.dtype, taps, first * e,
                          (k * pitch * e, ki * kj * pitch * e, (kj * pitch - s) * e, (pitch - 1) * e, s * e, e))
        np.sum(view, axis=(2, 3), out=dx[:, :, u0::sh, v0::sw])
