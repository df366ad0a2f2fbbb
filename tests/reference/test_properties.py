"""Properties over drawn shapes (hypothesis, bounded and seeded): the grids elsewhere pick points, these roam.

Each property holds for every layer geometry the curriculum allows: the conv layer agrees with torch forward and
backward, max-pool's gradient goes to the first maximum like torch's, softmax ignores a shift of its logits.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import conv2d_backward, conv2d_forward, max_pool2d, max_pool2d_backward, softmax
from reference.torch_check import assert_close, to_numpy, to_torch

# Few examples, no deadline (the first torch call is slow), derandomised so a failure reproduces.
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)


@st.composite
def conv_layers(draw):
    """A layer that fits: N, C, F in 1..3, kernel up to 4 on each side, stride up to 3, pad up to 2, any dtype."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h = draw(st.integers(max(1, kh - 2 * ph), 9))
    w = draw(st.integers(max(1, kw - 2 * pw), 9))
    n, c, f = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**16))
    return (n, c, h, w), (f, c, kh, kw), (sh, sw), (ph, pw), dtype, seed


@SETTINGS
@given(conv_layers())
def test_conv_layer_matches_torch_forward_and_backward(layer):
    x_shape, w_shape, stride, pad, dtype, seed = layer
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    tx, tw, tb = (to_torch(a, requires_grad=True) for a in (x, w, b))
    out_t = F.conv2d(tx, tw, tb, stride=stride, padding=pad)
    out = conv2d_forward(x, w, b, stride=stride, pad=pad)
    assert out.dtype == dtype
    assert_close(out, to_numpy(out_t), f"conv2d_forward {layer}")
    dout = rng.standard_normal(out.shape).astype(dtype)
    out_t.backward(to_torch(dout))
    grads = conv2d_backward(dout, x, w, stride=stride, pad=pad)
    for got, want, name in zip(grads, (tx, tw, tb), ["dx", "dw", "db"], strict=True):
        assert_close(got, to_numpy(want.grad), f"conv2d_backward {name} {layer}")


@SETTINGS
@given(st.integers(1, 3), st.integers(2, 8), st.integers(2, 8), st.integers(1, 3), st.integers(1, 3),
       st.integers(0, 2**16))
def test_max_pool_gradient_goes_to_the_first_maximum_like_torch(c, h, w, size, stride, seed):
    """Small integer inputs make ties common; non-overlapping and overlapping windows alike."""
    size = min(size, h, w)
    x = np.random.default_rng(seed).integers(0, 3, (2, c, h, w)).astype(np.float64)
    tx = to_torch(x, requires_grad=True)
    out_t = F.max_pool2d(tx, size, stride)
    np.testing.assert_array_equal(max_pool2d(x, size, stride), to_numpy(out_t))
    dout = np.random.default_rng(seed + 1).standard_normal(out_t.shape)
    out_t.backward(to_torch(dout))
    np.testing.assert_allclose(max_pool2d_backward(dout, x, size, stride), to_numpy(tx.grad), atol=1e-12)


@SETTINGS
@given(st.integers(1, 5), st.integers(2, 12), st.floats(-1e4, 1e4), st.integers(0, 2**16))
def test_softmax_ignores_a_shift_and_sums_to_one(n, k, shift, seed):
    z = np.random.default_rng(seed).standard_normal((n, k)) * 30
    p = softmax(z)
    np.testing.assert_allclose(p, softmax(z + shift), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(p, torch.softmax(torch.from_numpy(z), -1).numpy(), rtol=1e-9, atol=1e-15)
