"""Mutated computations for the mistakes of :mod:`autograder.mistakes` that real submissions made and the first
catalogue missed (measured on 31 student implementations): each function computes, from the live reference or
literally as the buggy code does, what a submission making that mistake returns. None where the mistake changes
nothing on these inputs (or cannot happen there).

Written to give the same numbers as the student's code, not merely the same idea: the log of an underflowed
probability is ``inf``, an unshifted log-sum-exp overflows to ``inf`` (not ``nan``), a crop ``p:-p`` at ``p = 0`` is
empty, a rejected stride is an exception (:class:`~autograder.student.convkit_check.Raises`).

The receptive field's mistakes (:data:`RECEPTIVE_FIELD_MISTAKES`) are the ways its formula goes wrong on paper,
deck 003's own slip among them; they are declared here whole, names and explanations with their variants.
"""
from __future__ import annotations

import numpy as np

from autograder.student.convkit_check import Raises
from reference import conv, layers, pool
from reference._checks import pair

__all__ = ["ce_log_of_probability", "ce_logsumexp_unshifted", "pool_grad_assigned", "pool_window_assigned",
           "pool_grad_split_between_ties", "output_size_rounded", "conv_bias_times", "dx_crop_empty_at_pad0",
           "dx_not_cropped", "strided_rejected", "stride_forgotten_forward", "stride_forgotten_backward",
           "numerical_gradient_over_h", "numerical_gradient_not_restored", "scaled", "transposed",
           "relu_backward_at_zero", "RECEPTIVE_FIELD_MISTAKES"]

# What code that rejects such a stride raises: CS231n's `assert (H + 2 * pad - HH) % stride == 0`, or a ValueError.
REJECTED_STRIDE = Raises(("ValueError", "AssertionError"))


# ---- cross-entropy -------------------------------------------------------------------------------------------
def ce_log_of_probability(z, y):
    """``mean(-log(p[y]))`` with p the max-shifted softmax: a probability under ~1e-308 is 0, its log -inf."""
    z = np.asarray(z)
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    p = e / e.sum(axis=1, keepdims=True)
    return np.mean(-np.log(p[np.arange(len(y)), y]))


def ce_logsumexp_unshifted(z, y):
    """``mean(log(sum(exp(z))) - z[y])`` without the max: exp(800) is inf, so the loss is inf (not nan)."""
    z = np.asarray(z)
    return np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y])


# ---- max pooling backward: overlapping windows, ties ---------------------------------------------------------
def _pool_geometry(x, size, stride):
    (kh, kw), (sh, sw) = pair(size, "size"), pair(size if stride is None else stride, "stride")
    ho, wo = (np.shape(x)[2] - kh) // sh + 1, (np.shape(x)[3] - kw) // sw + 1
    return kh, kw, sh, sw, ho, wo


def _overlapping(size, stride):
    (kh, kw), (sh, sw) = pair(size, "size"), pair(size if stride is None else stride, "stride")
    return sh < kh or sw < kw


def pool_grad_assigned(dout, x, size=2, stride=None):
    """``dx[n, c, winner] = dout[n, c, i, j]`` (= instead of +=): a later window that wins the same element
    overwrites the gradient of an earlier one."""
    if not _overlapping(size, stride):
        return None
    kh, kw, sh, sw, ho, wo = _pool_geometry(x, size, stride)
    n, c = np.ogrid[:x.shape[0], :x.shape[1]]
    dx = np.zeros(x.shape, dtype=np.result_type(dout, x))
    for i in range(ho):
        for j in range(wo):
            window = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].reshape(x.shape[0], x.shape[1], -1)
            r, s = np.unravel_index(window.argmax(axis=2), (kh, kw))
            dx[n, c, i * sh + r, j * sw + s] = dout[:, :, i, j]
    return dx


def pool_window_assigned(dout, x, size=2, stride=None, average=False):
    """``dx[:, :, window] = mask * dout`` (= instead of +=): each window's slice wipes what the windows before it
    put in the overlap. ``average``: the same for average pooling, ``dout / (KH * KW)`` over the whole window."""
    if not _overlapping(size, stride):
        return None
    kh, kw, sh, sw, ho, wo = _pool_geometry(x, size, stride)
    dx = np.zeros(x.shape, dtype=np.result_type(dout, x))
    for i in range(ho):
        for j in range(wo):
            g = dout[:, :, i:i + 1, j:j + 1]
            if average:
                dx[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] = g / (kh * kw)
                continue
            window = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            first = window.reshape(x.shape[0], x.shape[1], -1).argmax(axis=2)
            mask = np.arange(kh * kw) == first[..., None]
            dx[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] = mask.reshape(window.shape) * g
    return dx


def pool_grad_split_between_ties(dout, x, size=2, stride=None):
    """Each tied maximum of a window gets an equal share, ``dout / (number of ties)``."""
    kh, kw, sh, sw, ho, wo = _pool_geometry(x, size, stride)
    dx = np.zeros(x.shape, dtype=np.result_type(dout, x))
    for i in range(ho):
        for j in range(wo):
            window = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            mask = window == window.max(axis=(2, 3), keepdims=True)
            share = mask / mask.sum(axis=(2, 3), keepdims=True)
            dx[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += share * dout[:, :, i:i + 1, j:j + 1]
    return dx


# ---- output size and strides ---------------------------------------------------------------------------------
def output_size_rounded(n, k, stride=1, pad=0):
    """``round((n + 2*pad - k) / stride) + 1``: rounds 5/3 up to 2 where floor division gives 1."""
    return round((n + 2 * pad - k) / stride) + 1


def _padded_extents(args, kwargs, function):
    """``[(padded length, kernel length, stride)]`` for H and W of a strided function's call, or None."""
    stride = kwargs.get("stride", 1)
    pad = kwargs.get("pad", 0)
    if function == "output_size":
        n, k = args[:2]
        return [(n + 2 * pad, k, stride)]
    if function in ("correlate2d", "convolve2d"):
        (h, w), (kh, kw) = np.shape(args[0]), np.shape(args[1])
        if isinstance(pad, str):
            if pad != "full":
                return None  # "valid" has no padding to reject, "same" needs stride 1
            pad = (kh - 1, kw - 1)
    elif function in ("conv2d_forward", "conv2d_backward"):
        x, w_ = (args[0], args[1]) if function == "conv2d_forward" else (args[1], args[2])
        (h, w), (kh, kw) = np.shape(x)[2:], np.shape(w_)[2:]
    else:  # pooling, forward (x, size, stride) or backward (dout, x, size, stride)
        x = args[0] if function.endswith("pool2d") else args[1]
        size = kwargs.get("size", 2)
        stride, pad = (size if kwargs.get("stride") is None else kwargs["stride"]), 0
        (h, w), (kh, kw) = np.shape(x)[2:], pair(size, "size")
    (sh, sw), (ph, pw) = pair(stride, "stride"), pair(pad, "pad", allow_zero=True)
    return [(h + 2 * ph, kh, sh), (w + 2 * pw, kw, sw)]


def strided_rejected(function):
    """The exception of code that refuses a stride not dividing ``padded - kernel`` (the reference floors)."""
    def variant(*args, **kwargs):
        extents = _padded_extents(args, kwargs, function)
        if extents and any((n - k) % s for n, k, s in extents if n >= k):
            return REJECTED_STRIDE
        return None
    return variant


def stride_forgotten_forward(fn, pooling=False):
    """Windows taken at ``i:i+K`` instead of ``i*S:i*S+K``: the first H' x W' outputs of the stride-1 result.
    ``pooling``: the stride defaults to the window size."""
    def variant(*args, stride=None, **kwargs):
        if stride is None:
            stride = kwargs.get("size", 2) if pooling else 1
        if pair(stride, "stride") == (1, 1):
            return None
        out = fn(*args, stride=stride, **kwargs)
        return fn(*args, stride=1, **kwargs)[..., :out.shape[-2], :out.shape[-1]]
    return variant


def _embedded(dout, shape):
    """``dout`` in the top-left corner of zeros of the stride-1 output shape (the windows a loop reached)."""
    big = np.zeros(tuple(shape), dtype=np.asarray(dout).dtype)
    big[..., :dout.shape[-2], :dout.shape[-1]] = dout
    return big


def stride_forgotten_backward(function):
    """The backward pass of windows taken at ``i:i+K``: dout routed through the stride-1 windows it reached."""
    def variant(dout, x, *rest, **kwargs):
        if function == "conv2d_backward":
            w, stride, pad = rest[0], kwargs.get("stride", 1), kwargs.get("pad", 0)
            if pair(stride, "stride") == (1, 1):
                return None
            (ph, pw), (kh, kw) = pair(pad, "pad", allow_zero=True), np.shape(w)[2:]
            reached = (*np.shape(dout)[:2], np.shape(x)[2] + 2 * ph - kh + 1, np.shape(x)[3] + 2 * pw - kw + 1)
            return conv.conv2d_backward(_embedded(dout, reached), x, w, stride=1, pad=pad)
        size = kwargs.get("size", 2)
        stride = size if kwargs.get("stride") is None else kwargs["stride"]
        if pair(stride, "stride") == (1, 1):
            return None
        backward = pool.max_pool2d_backward if function == "max_pool2d_backward" else pool.avg_pool2d_backward
        (kh, kw) = pair(size, "size")
        reached = (*np.shape(x)[:2], np.shape(x)[2] - kh + 1, np.shape(x)[3] - kw + 1)
        return backward(_embedded(dout, reached), x, size, 1)
    return variant


# ---- convolution layer -----------------------------------------------------------------------------------------
def conv_bias_times(count):
    """conv2d_forward with the bias added ``count(C, KH, KW)`` times per output (inside the window loop)."""
    def variant(x, w, b, **kwargs):
        c, kh, kw = np.shape(w)[1:]
        return conv.conv2d_forward(x, w, np.asarray(b) * count(c, kh, kw), **kwargs)
    return variant


def _padded_gradient(dout, x, w, stride=1, pad=0):
    """(dx_padded, dw, db): the gradient with respect to the zero-padded input, before any crop."""
    ph, pw = pair(pad, "pad", allow_zero=True)
    xp = np.pad(np.asarray(x), [(0, 0), (0, 0), (ph, ph), (pw, pw)])
    return conv.conv2d_backward(dout, xp, w, stride=stride, pad=0), (ph, pw)


def dx_crop_empty_at_pad0(dout, x, w, stride=1, pad=0):
    """``dx = dx_pad[:, :, PH:-PH, PW:-PW]``: at PH = 0 that is ``0:0``, an empty axis."""
    (dxp, dw, db), (ph, pw) = _padded_gradient(dout, x, w, stride, pad)
    return None if ph and pw else (dxp[:, :, ph:-ph, pw:-pw], dw, db)


def dx_not_cropped(dout, x, w, stride=1, pad=0):
    """dx left at the padded size ``(N, C, H + 2*PH, W + 2*PW)``."""
    (dxp, dw, db), (ph, pw) = _padded_gradient(dout, x, w, stride, pad)
    return None if ph == pw == 0 else (dxp, dw, db)


# ---- numerical gradient --------------------------------------------------------------------------------------
def _weighted(f, x, dout):
    return np.sum(f(x) * dout)


def _central_difference(f, x, dout, h, *, divisor: float, restore: bool):
    """The loop of a student's central difference, with its divisor (``2`` of ``2h``) and whether x[i] is put back."""
    x = np.array(x, dtype=np.float64)
    dx = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = _weighted(f, x, dout)
        x[i] = old - h
        minus = _weighted(f, x, dout)
        if restore:
            x[i] = old
        dx[i] = (plus - minus) / (divisor * h)
    return dx


def numerical_gradient_over_h(f, x, dout, h=1e-5):
    """``(L(x + h) - L(x - h)) / h``: the central difference without its 2."""
    return _central_difference(f, x, dout, h, divisor=1.0, restore=True)


def numerical_gradient_not_restored(f, x, dout, h=1e-5):
    """x[i] left at ``old - h`` after its two evaluations: every later element is differentiated at a moved x."""
    return _central_difference(f, x, dout, h, divisor=2.0, restore=False)


# ---- generic: a constant factor, a transpose -----------------------------------------------------------------
def scaled(fn, factor):
    """``fn``'s answer times ``factor(args)`` (None when the factor is undefined); arrays and scalars only."""
    def variant(*args, **kwargs):
        k = factor(args)
        if k is None:
            return None
        out = fn(*args, **kwargs)
        if isinstance(out, tuple) or not isinstance(out, (np.ndarray, np.generic, float)):
            return None
        result = np.asarray(out) * k
        return result.astype(np.asarray(out).dtype) if isinstance(out, np.ndarray) else np.asarray(out).dtype.type(
            result)
    return variant


def transposed(fn):
    """``fn``'s answer with its last two axes swapped (an array of 2 or more axes only)."""
    def variant(*args, **kwargs):
        out = fn(*args, **kwargs)
        if not isinstance(out, np.ndarray) or out.ndim < 2:
            return None
        return np.ascontiguousarray(np.swapaxes(out, -1, -2))
    return variant


def relu_backward_at_zero(dout, x):
    """``dout * (x >= 0)``: the gradient passed at exactly 0, where ReLU's convention (and PyTorch's) is 0."""
    x = np.asarray(x)
    if not (x == 0).any():
        return None
    return layers.relu_backward(dout, np.where(x == 0, 1.0, x).astype(x.dtype))


# ---- receptive field -----------------------------------------------------------------------------------------
def _layers(kernel_sizes, strides) -> list[tuple[int, int]]:
    """``[(k_i, s_i)]`` of a stack the reference accepts (its ValueError/TypeError otherwise: no answer)."""
    conv.receptive_field(kernel_sizes, strides)
    return [(int(k), int(s)) for k, s in zip(kernel_sizes, strides, strict=True)]


def _rf_strides_ignored(kernel_sizes, strides):
    """``1 + sum(k_i - 1)``: every layer's window counted in input pixels, whatever the strides below it."""
    return 1 + sum(k - 1 for k, _ in _layers(kernel_sizes, strides))


def _rf_own_stride_counted(kernel_sizes, strides):
    """``1 + sum((k_i - 1) * s_0 * ... * s_i)``: the layer's own stride in the product too."""
    r, jump = 1, 1
    for k, s in _layers(kernel_sizes, strides):
        jump *= s
        r += (k - 1) * jump
    return r


def _rf_kernels_multiplied(kernel_sizes, strides):
    """``k_0 * k_1 * ...``: deck 003's "two 3x3 kernels stand in for one 9x9"."""
    return int(np.prod([k for k, _ in _layers(kernel_sizes, strides)], dtype=np.int64))


_RF_SUM = "r = 1 + sum_i (k_i - 1) * s_0 * ... * s_(i-1)"
# (name, explanation, {function: variant}): the entries of autograder.mistakes' catalogue for receptive_field.
RECEPTIVE_FIELD_MISTAKES = (
    ("receptive_field_strides_ignored",
     "the strides were left out: after a layer of stride s, the next layer's neighbouring inputs lie s pixels apart "
     f"in the image, so each layer's k - 1 counts times the strides of ALL the layers before it: {_RF_SUM}",
     {"receptive_field": _rf_strides_ignored}),
    ("receptive_field_own_stride_counted",
     "a layer's own stride only spaces its outputs, it does not widen the window they see: layer i's k - 1 counts "
     f"times the strides of the layers BEFORE it (1 for the first layer): {_RF_SUM}",
     {"receptive_field": _rf_own_stride_counted}),
    ("receptive_field_plus_one_missing",
     "the window is one pixel short (the + 1 is missing): with no layer at all an output sees 1 pixel, and each "
     f"layer adds to it: {_RF_SUM}",
     {"receptive_field": lambda kernel_sizes, strides: conv.receptive_field(kernel_sizes, strides) - 1}),
    ("receptive_field_kernels_multiplied",
     "kernel sizes do not multiply (deck 003's slip: two stacked 3x3 kernels do not see 9x9): neighbouring windows "
     "overlap, so each layer adds k - 1 to the window, 3 + (3 - 1) = 5 for two 3x3 kernels at stride 1",
     {"receptive_field": _rf_kernels_multiplied}),
)
