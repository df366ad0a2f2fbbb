"""Are the blocked im2col + GEMM kernels of reference._conv_gemm right on every path, against torch?

The paths: the forward with one block or several (a short last block included); the stride-1 backward that works
on rows flattened at the padded width with col2im as one overlap reduction; the strided backward with col2im by
groups of taps, each group's sum copied or added into its phase of ``dx``. Blocks are forced small by lowering
``_BLOCK_BYTES``. Scratch buffers are reused between calls, so the results of one call must survive the next.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from reference import _autotune, _conv_gemm, _conv_impl, _conv_phase  # noqa: E402
from reference.conv import conv2d_backward, conv2d_forward  # noqa: E402
from reference.torch_check import assert_close, to_numpy, to_torch  # noqa: E402

DTYPES = [np.float32, np.float64]
# (N, C, H, W, F, (KH, KW), stride, pad): stride 1 takes the flattened-rows backward, the others the strided one;
# pads below KW - 1 make the extra columns of the flattened rows reach real input, so their zeroing matters.
CASES = [
    (5, 1, 12, 10, 4, (5, 5), 1, 2),
    (5, 3, 9, 11, 6, (3, 2), 1, (0, 1)),
    (3, 2, 8, 8, 3, (1, 1), 1, 0),
    (4, 3, 11, 9, 5, (3, 3), 2, 1),
    (5, 2, 10, 13, 3, (4, 3), (2, 1), (1, 2)),
    (3, 1, 7, 7, 2, (2, 2), 3, 0),
    # A kernel wider than the output (W' = 2, KW = 4): column shifts of W' or more (found by test_properties).
    (1, 1, 1, 1, 1, (1, 4), (2, 1), (0, 2)),
    (2, 2, 3, 1, 2, (1, 4), (2, 1), (0, 2)),
]
# Bytes per block small enough to split every case into blocks of one or two images (with a short last block).
TINY_BLOCK_BYTES = 2048


def _case(n, c, h, w, f, kernel, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((f, c, *kernel)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    return rng, x, wt, b


def _torch(x, w, b, dout, stride, pad):
    tx, tw, tb = (to_torch(a, requires_grad=True) for a in (x, w, b))
    out = F.conv2d(tx, tw, tb, stride=stride, padding=pad)
    out.backward(to_torch(dout))
    return [to_numpy(t) for t in (out, tx.grad, tw.grad, tb.grad)]


def _check(x, w, b, stride, pad, rng):
    out = conv2d_forward(x, w, b, stride=stride, pad=pad)
    dout = rng.standard_normal(out.shape).astype(x.dtype)
    want = _torch(x, w, b, dout, stride, pad)
    got = [out, *conv2d_backward(dout, x, w, stride=stride, pad=pad)]
    for name, g, t in zip(("out", "dx", "dw", "db"), got, want, strict=True):
        assert g.dtype == x.dtype, f"{name} has dtype {g.dtype}, expected {x.dtype}"
        assert_close(g, t, name)


@pytest.mark.parametrize("blocks", ["one", "several"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("n, c, h, w, f, kernel, stride, pad", CASES)
def test_gemm_paths_match_torch(n, c, h, w, f, kernel, stride, pad, dtype, blocks, monkeypatch):
    """Do the GEMM forward and both backward variants give torch's output and gradients, in one or many blocks?"""
    monkeypatch.setattr(_conv_impl, "use_fft", lambda *args: False)
    if blocks == "several":
        monkeypatch.setattr(_conv_gemm, "_BLOCK_BYTES", TINY_BLOCK_BYTES)
    rng, x, wt, b = _case(n, c, h, w, f, kernel, dtype, seed=3)
    _check(x, wt, b, stride, pad, rng)


@pytest.mark.parametrize("blocks", ["one", "several"])
def test_block_count_is_what_the_test_asks(blocks, monkeypatch):
    """Does lowering _BLOCK_BYTES really split the test batches (else the 'several' cases test nothing new)?"""
    if blocks == "several":
        monkeypatch.setattr(_conv_gemm, "_BLOCK_BYTES", TINY_BLOCK_BYTES)
    per_image = (1 * 25 + 1) * 12 * 10 * 8
    expected = 5 if blocks == "one" else 1
    assert _conv_gemm._images_per_block(5, per_image) == expected


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("stride", [1, 2])
def test_results_survive_the_next_call(stride, dtype):
    """Scratch buffers are reused: is what one call returned left untouched by a second call on other data?"""
    rng, x, wt, b = _case(4, 2, 9, 9, 3, (3, 3), dtype, seed=4)
    out = conv2d_forward(x, wt, b, stride=stride, pad=1)
    dout = rng.standard_normal(out.shape).astype(dtype)
    grads = conv2d_backward(dout, x, wt, stride=stride, pad=1)
    kept = [a.copy() for a in (out, *grads)]
    conv2d_forward(-x, 2 * wt, b, stride=stride, pad=1)
    conv2d_backward(-dout, 3 * x, wt, stride=stride, pad=1)
    for name, a, k in zip(("out", "dx", "dw", "db"), (out, *grads), kept, strict=True):
        np.testing.assert_array_equal(a, k, err_msg=f"{name} changed after a later call")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_benchmark_shape_a_matches_torch(dtype, monkeypatch):
    """On the benchmark's shape (a) with a smaller batch (C = 1, 5x5, pad 2), are the default blocks right?"""
    rng, x, wt, b = _case(6, 1, 28, 28, 16, (5, 5), dtype, seed=5)
    with _autotune.forced("rows"):
        _check(x, wt, b, 1, 2, rng)


# Stride-1 forward on rows ``S`` apart (forward_rows): odd sizes, rectangular kernels, pads 0 / 1 / (1, 2), and pads
# at least the kernel (there the pitch is W', not W + PW). (N, C, H, W, F, (KH, KW), pad).
ROWS_CASES = [
    (3, 2, 7, 9, 3, (3, 3), 0),
    (2, 3, 9, 7, 4, (3, 5), 1),
    (3, 1, 11, 5, 2, (2, 3), (1, 2)),
    (2, 2, 5, 6, 3, (5, 1), (2, 0)),
    (2, 1, 4, 3, 2, (2, 2), 3),
]


@pytest.mark.parametrize("blocks", ["one", "several"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("n, c, h, w, f, kernel, pad", ROWS_CASES)
def test_forward_rows_matches_torch(n, c, h, w, f, kernel, pad, dtype, blocks, monkeypatch):
    """Does the flattened-rows forward give torch's output (and the backward its gradients) on odd shapes?"""
    monkeypatch.setattr(_conv_impl, "use_fft", lambda *args: False)
    if blocks == "several":
        monkeypatch.setattr(_conv_gemm, "_BLOCK_BYTES", TINY_BLOCK_BYTES)
    rng, x, wt, b = _case(n, c, h, w, f, kernel, dtype, seed=6)
    _check(x, wt, b, 1, pad, rng)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_stride_one_forward_takes_the_rows_path(dtype, monkeypatch):
    """Is the stride-1 GEMM forward really forward_rows (else the cases above test the old path): rows S apart?"""
    monkeypatch.setattr(_conv_impl, "use_fft", lambda *args: False)
    _, x, wt, b = _case(2, 1, 7, 9, 3, (3, 3), dtype, seed=7)
    out = conv2d_forward(x, wt, b, stride=1, pad=(1, 2))
    pitch = _conv_gemm._row_pitch(9, 2, out.shape[-1])
    assert out.shape == (2, 3, 7, 11) and out.strides[-2:] == (pitch * out.itemsize, out.itemsize)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_rows_layouts_sharing_a_buffer_size_stay_apart(dtype, monkeypatch):
    """Two layouts whose flat buffers have one shape (W 8 + PW 2 vs W 10 + PW 0, rows 10 apart): does the second
    leave the first's zero gaps alone, so the first is still right when it runs again?"""
    monkeypatch.setattr(_conv_impl, "use_fft", lambda *args: False)
    rng, x1, wt, b = _case(2, 1, 6, 8, 2, (3, 3), dtype, seed=8)
    x2 = rng.standard_normal((2, 1, 6, 10)).astype(dtype) + 5
    for x, pad in ((x1, (1, 2)), (x2, (1, 0)), (x1, (1, 2))):
        _check(x, wt, b, 1, pad, rng)


# Strided forward on polyphase planes (reference._conv_phase): padded sizes odd and even (phases of unequal size),
# strides 2, 3, (1, 2), (2, 1), kernels 3x3 / 2x3 / 5x1 / 1x1 (fewer taps than the stride: unused phases), pads 0,
# 1, (1, 2) and 3 (a pad wider than the stride: whole zero rows/columns inside a phase). (N, C, H, W, F, K, stride, pad)
PHASE_CASES = [
    (3, 2, 9, 11, 4, (3, 3), 2, 1),
    (2, 3, 10, 8, 3, (3, 3), 2, 0),
    (3, 1, 11, 7, 2, (2, 3), 3, (1, 2)),
    (2, 2, 8, 9, 3, (5, 1), (1, 2), 3),
    (2, 2, 7, 10, 3, (1, 1), (2, 1), 0),
    (2, 1, 9, 9, 2, (3, 3), 3, 3),
    (3, 2, 6, 7, 2, (2, 3), (2, 1), (1, 2)),
    (2, 3, 12, 13, 4, (1, 1), 3, 1),
]


@pytest.mark.parametrize("blocks", ["one", "several"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("n, c, h, w, f, kernel, stride, pad", PHASE_CASES)
def test_phase_forward_matches_torch(n, c, h, w, f, kernel, stride, pad, dtype, blocks, monkeypatch):
    """Does the polyphase strided forward give torch's output (and the backward its gradients) on odd shapes?"""
    monkeypatch.setattr(_conv_impl, "use_fft", lambda *args: False)
    if blocks == "several":
        monkeypatch.setattr(_conv_phase, "_BLOCK_BYTES", TINY_BLOCK_BYTES)
        monkeypatch.setattr(_conv_gemm, "_BLOCK_BYTES", TINY_BLOCK_BYTES)
    rng, x, wt, b = _case(n, c, h, w, f, kernel, dtype, seed=9)
    _check(x, wt, b, stride, pad, rng)


@pytest.mark.parametrize("blocks", ["one", "several"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("n, c, h, w, f, kernel, stride, pad", PHASE_CASES)
def test_phase_backward_matches_torch(n, c, h, w, f, kernel, stride, pad, dtype, blocks, monkeypatch):
    """Forced onto the polyphase backward (col2im as one sum per phase), are the gradients torch's on odd shapes,
    unused phases and whole zero rows of a phase included?"""
    if blocks == "several":
        monkeypatch.setattr(_conv_phase, "_BLOCK_BYTES", TINY_BLOCK_BYTES)
    rng, x, wt, b = _case(n, c, h, w, f, kernel, dtype, seed=12)
    calls = []
    real = _conv_phase.backward
    monkeypatch.setattr(_conv_phase, "backward", lambda *args: calls.append(args) or real(*args))
    with _autotune.forced("phase"):
        _check(x, wt, b, stride, pad, rng)
    assert len(calls) == 1


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("stride", [2, (1, 2), (2, 1)])
def test_strided_forward_takes_the_phase_path(stride, dtype, monkeypatch):
    """Is the strided GEMM forward really _conv_phase.forward (else the cases above test another path): called once,
    and its result has rows S = ceil(Wp / SW) apart?"""
    monkeypatch.setattr(_conv_impl, "use_fft", lambda *args: False)
    calls = []
    real = _conv_phase.forward
    monkeypatch.setattr(_conv_phase, "forward", lambda *args: calls.append(args) or real(*args))
    _, x, wt, b = _case(2, 2, 9, 11, 3, (3, 3), dtype, seed=10)
    out = conv2d_forward(x, wt, b, stride=stride, pad=1)
    sw = stride if isinstance(stride, int) else stride[1]
    pitch = -(-(11 + 2) // sw)
    assert len(calls) == 1 and out.strides[-2:] == (pitch * out.itemsize, out.itemsize)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_phase_layouts_in_turn_stay_right(dtype, monkeypatch):
    """Phase buffers are cached with their zero padding written once: after another pad and stride ran on the same
    input size, is the first layout still right?"""
    monkeypatch.setattr(_conv_impl, "use_fft", lambda *args: False)
    rng, x, wt, b = _case(2, 2, 8, 8, 2, (3, 3), dtype, seed=11)
    for stride, pad in ((2, 1), (2, 0), (3, 2), (2, 1)):
        _check(x + 3, wt, b, stride, pad, rng)
