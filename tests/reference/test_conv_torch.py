"""Does reference.conv agree with torch.nn.functional (forward) and autograd (backward) over a grid of layers?

Runs on reference.torch_check.DEVICE (CUDA when available, else the CPU); tolerances are its named TOL.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from reference import _autotune, _conv_impl  # noqa: E402
from reference.conv import conv2d_backward, conv2d_forward, convolve2d, correlate2d  # noqa: E402
from reference.torch_check import assert_close, to_numpy, to_torch  # noqa: E402

DTYPES = [np.float32, np.float64]
# (N, C) x kernel (KH, KW) x stride x pad, on a non-square 7x9 image with F = 2 filters.
LAYER_GRID = list(itertools.product(
    [(1, 1), (4, 3)],
    [(3, 2), (1, 1), (3, 3)],
    [1, 2, (1, 2)],
    [0, 1, 2, (1, 2)],
))
IMAGE_HW = (7, 9)
FILTERS = 2


def _torch_layer(x, w, b, dout, stride, pad):
    """torch's forward output and autograd gradients (dx, dw, db) as ndarrays."""
    tx, tw, tb = (to_torch(a, requires_grad=True) for a in (x, w, b))
    out = F.conv2d(tx, tw, tb, stride=stride, padding=pad)
    out.backward(to_torch(dout))
    return to_numpy(out), to_numpy(tx.grad), to_numpy(tw.grad), to_numpy(tb.grad)


def _layer_case(nc, kernel, dtype, seed=0):
    rng = np.random.default_rng(seed)
    (n, c), (kh, kw) = nc, kernel
    x = rng.standard_normal((n, c, *IMAGE_HW)).astype(dtype)
    w = rng.standard_normal((FILTERS, c, kh, kw)).astype(dtype)
    b = rng.standard_normal(FILTERS).astype(dtype)
    return rng, x, w, b


def _check_layer(x, w, b, stride, pad, rng):
    """Forward and all three gradients of the reference against torch."""
    out = conv2d_forward(x, w, b, stride=stride, pad=pad)
    dout = rng.standard_normal(out.shape).astype(x.dtype)
    t_out, t_dx, t_dw, t_db = _torch_layer(x, w, b, dout, stride, pad)
    assert_close(out, t_out, "conv2d_forward")
    dx, dw, db = conv2d_backward(dout, x, w, stride=stride, pad=pad)
    assert_close(dx, t_dx, "dx")
    assert_close(dw, t_dw, "dw")
    assert_close(db, t_db, "db")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("nc, kernel, stride, pad", LAYER_GRID)
def test_layer_matches_torch(nc, kernel, stride, pad, dtype):
    """Do conv2d_forward and conv2d_backward give torch's output and autograd gradients?"""
    rng, x, w, b = _layer_case(nc, kernel, dtype)
    _check_layer(x, w, b, stride, pad, rng)


@pytest.mark.parametrize("use_fft", [False, True], ids=["gemm", "fft"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("nc, kernel, pad", [((4, 3), (3, 2), (1, 2)), ((1, 1), (5, 5), 2), ((4, 3), (1, 1), 0)])
def test_both_algorithms_match_torch(nc, kernel, pad, dtype, use_fft, monkeypatch):
    """Are the im2col and the FFT routes each right on their own (stride 1), whichever the cost model picks?"""
    monkeypatch.setattr(_conv_impl, "use_fft", lambda *args: use_fft)
    rng, x, w, b = _layer_case(nc, kernel, dtype, seed=1)
    _check_layer(x, w, b, 1, pad, rng)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_benchmark_sized_layer_matches_torch(dtype):
    """On a layer where the cost model picks the FFT (shape (b) of the benchmark, smaller batch), is it still right?
    (The layer is large enough to be timed, so the FFT is forced rather than left to the tuner.)"""
    x_shape, w_shape = (2, 16, 14, 14), (36, 16, 5, 5)
    assert _conv_impl.use_fft(2, 16, 36, 18, 18, 5, 5, 14, 14, (1, 1)), "this case is meant to exercise the FFT"
    rng = np.random.default_rng(2)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in (x_shape, w_shape, (36,)))
    with _autotune.forced("fft"):
        _check_layer(x, w, b, 1, 2, rng)


SINGLE_KERNELS = [(3, 3), (2, 2), (3, 2), (1, 4)]
SINGLE_PADS = ["valid", "same", "full", 0, 1, (1, 2)]


def _torch_single(image, kernel, stride, pad):
    """torch's correlation of one (H, W) image with one (KH, KW) kernel, ``pad`` as torch spells it."""
    kh, kw = kernel.shape
    if pad == "full":
        pad = (kh - 1, kw - 1)
    out = F.conv2d(to_torch(image[None, None]), to_torch(kernel[None, None]), stride=stride, padding=pad)
    return to_numpy(out)[0, 0]


# torch warns that padding="same" with an even kernel makes a padded copy: that is the case being checked.
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("kernel_hw, pad, stride", [
    (k, p, s) for k in SINGLE_KERNELS for p in SINGLE_PADS for s in (1, 2) if not (p == "same" and s != 1)])
def test_correlate2d_and_convolve2d_match_torch(kernel_hw, pad, stride, dtype):
    """Is correlate2d torch's conv2d, and convolve2d torch's conv2d with the kernel flipped, for every pad mode?"""
    rng = np.random.default_rng(3)
    image = rng.standard_normal(IMAGE_HW).astype(dtype)
    kernel = rng.standard_normal(kernel_hw).astype(dtype)
    assert_close(correlate2d(image, kernel, stride=stride, pad=pad),
                 _torch_single(image, kernel, stride, pad), "correlate2d")
    flipped = np.ascontiguousarray(kernel[::-1, ::-1])
    assert_close(convolve2d(image, kernel, stride=stride, pad=pad),
                 _torch_single(image, flipped, stride, pad), "convolve2d")
