"""Known mistakes, as mutated computations: what a submission with that mistake returns on a case's inputs.

Each :class:`Mistake` has a student-facing explanation and, per function it applies to, a ``variant(*args,
**kwargs)`` built from the live reference on mutated inputs or parameters (flipped kernel = correlate with
``w[..., ::-1, ::-1]``). The suites store each variant's answer in the case's ``diagnoses``; ``run_case`` names
the mistake when a wrong answer matches it. A variant returns None where the mistake changes nothing or cannot be
expressed on these inputs; its answer may be an exception (``Raises``), named when the student's code raises it.

Specific mistakes come first and the generic ones (a constant factor, a transpose) last: where two mistakes give
the same answer on a case, only the first is kept, so a generic name never hides a specific one.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import reference.softmax_ce as sm
from autograder import mistake_variants as mv
from autograder.student.convkit_check import Raises
from reference import conv, image, layers, pool
from reference._checks import pair
from reference.gradcheck import numerical_gradient

__all__ = ["Mistake", "MISTAKES", "mistakes_for", "mistaken_answers"]


@dataclass(frozen=True)
class Mistake:
    name: str
    explanation: str
    variants: dict[str, Callable] = field(default_factory=dict)
    generic: bool = False  # a symptom (a constant factor, a transpose) rather than a cause: named only when no
    #                        earlier mistake of the catalogue gives the same answer


def _crop(out, k=1):
    """The output with its last row and column dropped (a loop that stops one step early)."""
    return out[..., :-k, :-k] if out.shape[-1] > k and out.shape[-2] > k else None


def _one_side(x, pad):
    """Zeros only before (top/left), the same amount as ``pad`` asks for on each side."""
    ph, pw = pair(pad, "pad", allow_zero=True)
    if ph == pw == 0:
        return None
    widths = [(0, 0)] * (x.ndim - 2) + [(ph, 0), (pw, 0)]
    return np.pad(x, widths)


def _corr_one_side(img, k, stride=1, pad=0):
    if isinstance(pad, str):
        return None
    xp = _one_side(np.asarray(img, dtype=float), pad)
    return None if xp is None else conv.correlate2d(xp, k, stride=stride)


def _conv_one_side(x, w, b, stride=1, pad=0):
    xp = _one_side(np.asarray(x), pad)
    return None if xp is None else conv.conv2d_forward(xp, w, b, stride=stride)


def _stride1(fn):
    def variant(*args, stride=1, **kwargs):
        return None if pair(stride, "stride") == (1, 1) else fn(*args, stride=1, **kwargs)
    return variant


def _pool_stride1(fn):
    def variant(x, size=2, stride=None):
        return fn(x, size=size, stride=1) if pair(size, "size") != (1, 1) or stride not in (None, 1) else None
    return variant


def _naive_softmax(z):
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(np.asarray(z))
        return e / e.sum(axis=-1, keepdims=True)


def _naive_cross_entropy(z, y):
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        p = _naive_softmax(z)
        return np.mean(-np.log(p[np.arange(len(y)), y]))


def _softmax_axis0(z):
    z = np.asarray(z)
    if z.ndim < 2:
        return None
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


def _first_image(fn, index):
    """The tuple ``fn`` returns, with output ``index`` (dw) computed from the first image of the batch only."""
    def variant(dout, x, *rest, **kwargs):
        if np.shape(x)[0] < 2:
            return None
        out = list(fn(dout, x, *rest, **kwargs))
        out[index] = fn(dout[:1], x[:1], *rest, **kwargs)[index]
        return tuple(out)
    return variant


def _db_mean(fn, axes):
    def variant(dout, *rest, **kwargs):
        out = list(fn(dout, *rest, **kwargs))
        out[2] = np.asarray(dout).mean(axis=axes)
        return tuple(out)
    return variant


def _max_pool_backward_all_ties(dout, x, size=2, stride=None):
    """Every element equal to its window's maximum gets the window's gradient (ties counted repeatedly)."""
    (kh, kw), (sh, sw) = pair(size, "size"), pair(stride if stride is not None else size, "stride")
    out = pool.max_pool2d(x, size, stride)
    dx = np.zeros(np.shape(x), dtype=np.result_type(dout, x))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            win = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            mask = win == out[:, :, i:i + 1, j:j + 1]
            dx[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += mask * dout[:, :, i:i + 1, j:j + 1]
    return dx


def _max_pool_backward_last_tie(dout, x, size=2, stride=None):
    """The gradient goes to the LAST maximum of each window (row-major): flip both axes, route, flip back."""
    (kh, kw), (sh, sw) = pair(size, "size"), pair(stride if stride is not None else size, "stride")
    h, w = np.shape(x)[2:]
    if (h - kh) % sh or (w - kw) % sw:
        return None  # flipping changes which windows exist; only defined when the windows tile the input
    flip = (slice(None), slice(None), slice(None, None, -1), slice(None, None, -1))
    return pool.max_pool2d_backward(dout[flip], np.ascontiguousarray(x[flip]), size, stride)[flip]


def _forward_difference(f, x, dout, h=1e-5):
    x = np.array(x, dtype=np.float64)
    base = float(np.sum(f(x) * dout))
    dx = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        dx[i] = (float(np.sum(f(x) * dout)) - base) / h
        x[i] = old
    return dx


def _flatten_channels_last(x):
    x = np.asarray(x)
    return None if x.ndim != 4 or (x.shape[1] == 1) else x.transpose(0, 2, 3, 1).reshape(x.shape[0], -1)


def _flatten_backward_channels_last(dout, x_shape):
    n, c, h, w = x_shape
    return None if c == 1 else np.asarray(dout).reshape(n, h, w, c).transpose(0, 3, 1, 2)


def _dense_square(fn):
    def variant(x, w, b):
        return fn(x, np.asarray(w).T, b) if np.shape(w)[0] == np.shape(w)[1] else None
    return variant


def _dense_backward_dw_transposed(dout, x, w):
    dx, dw, db = layers.dense_backward(dout, x, w)
    return dx, dw.T, db


def _scel_not_mean(z, y):
    return sm.softmax_cross_entropy_backward(z, y) * np.shape(z)[0]


def _scel_no_onehot(z, y):
    return sm.softmax(z) / np.shape(z)[0]


_M = [
    Mistake("flipped_kernel",
            "your result matches a convolution with the kernel flipped: cross-correlation (what CNN layers compute) "
            "slides the kernel as it is, without turning it around", {
                "correlate2d": lambda img, k, **kw: conv.correlate2d(img, np.asarray(k)[::-1, ::-1], **kw),
                "conv2d_forward": lambda x, w, b, **kw: conv.conv2d_forward(x, np.asarray(w)[..., ::-1, ::-1], b,
                                                                            **kw)}),
    Mistake("kernel_not_flipped",
            "your result is the cross-correlation: a true convolution first flips the kernel in both axes "
            "(kernel[::-1, ::-1])", {"convolve2d": conv.correlate2d}),
    Mistake("flipped_one_axis",
            "the kernel was flipped along one axis only: a convolution flips rows AND columns", {
                "convolve2d": lambda img, k, **kw: conv.correlate2d(img, np.asarray(k)[::-1, :], **kw)}),
    Mistake("missing_bias", "the bias b is not added: every output of filter f gets + b[f]", {
        "conv2d_forward": lambda x, w, b, **kw: conv.conv2d_forward(x, w, np.zeros_like(b), **kw),
        "dense_forward": lambda x, w, b: layers.dense_forward(x, w, np.zeros_like(b))}),
    Mistake("stride_ignored", "the window moved one step at a time: stride says how far it jumps between outputs", {
        "correlate2d": _stride1(conv.correlate2d), "conv2d_forward": _stride1(conv.conv2d_forward),
        "max_pool2d": _pool_stride1(pool.max_pool2d), "avg_pool2d": _pool_stride1(pool.avg_pool2d),
        "sum_pool2d": _pool_stride1(pool.sum_pool2d)}),
    Mistake("pad_one_side",
            "zeros were added on one side only: padding adds pad zeros on BOTH sides (top and bottom, left and right)",
            {"zero_pad": lambda x, pad: _one_side(np.asarray(x), pad),
             "correlate2d": _corr_one_side, "conv2d_forward": _conv_one_side}),
    Mistake("zero_pad_all_axes", "every axis was padded: only the last two (H and W) get zeros, never N or C", {
        "zero_pad": lambda x, pad: None if np.ndim(x) < 3 else np.pad(x, [(pair(pad, "pad", True)[0],) * 2] * (
            np.ndim(x) - 1) + [(pair(pad, "pad", True)[1],) * 2])}),
    Mistake("output_size_off_by_one",
            "the output is one row/column short: there are (H + 2*PH - KH) // SH + 1 window positions (mind the + 1)", {
                "output_size": lambda n, k, stride=1, pad=0: (n + 2 * pad - k) // stride,
                "correlate2d": lambda *a, **kw: _crop(conv.correlate2d(*a, **kw)),
                "conv2d_forward": lambda *a, **kw: _crop(conv.conv2d_forward(*a, **kw))}),
    Mistake("pad_counted_once", "padding adds zeros on both sides, so it counts twice: n + 2*pad - k", {
        "output_size": lambda n, k, stride=1, pad=0: (n + pad - k) // stride + 1 if pad else None}),
    Mistake("grayscale_unweighted", "you averaged R, G and B equally: luminance weighs them 0.299, 0.587, 0.114", {
        "rgb_to_grayscale": lambda img: np.asarray(img, dtype=np.float64).mean(axis=-1)}),
    Mistake("grayscale_bgr",
            "the weights are applied in reverse order: channel 0 is R (0.299), channel 2 is B (0.114)", {
        "rgb_to_grayscale": lambda img: image.rgb_to_grayscale(np.asarray(img)[..., ::-1])}),
    Mistake("kernel_not_normalised", "a blur kernel is divided by the sum of its entries, so the image keeps its "
            "brightness (box blur: / 9, Gaussian: / 16)", {
                "KERNELS": lambda name: image.KERNELS[name] * (9 if name == "box_blur" else 16)
                if name in ("box_blur", "gaussian_blur") else None}),
    Mistake("relu_wrong_side", "positive values pass through ReLU (and carry its gradient), negative ones become 0", {
        "relu": lambda x: np.minimum(np.asarray(x), 0),
        "relu_backward": lambda dout, x: np.asarray(dout) * (np.asarray(x) < 0)}),
    Mistake("weights_transposed", "w has shape (D, M): compute x @ w (and dw = x.T @ dout, of the shape of w)", {
        "dense_forward": _dense_square(layers.dense_forward),
        "dense_backward": _dense_backward_dw_transposed}),
    Mistake("softmax_overflow",
            "exp of a large logit overflows to inf (inf / inf = nan): subtract each row's maximum before exp",
            {"softmax": _naive_softmax, "cross_entropy": _naive_cross_entropy}),
    Mistake("softmax_wrong_axis", "softmax normalises each ROW (the last axis, one row per example), not each column",
            {"softmax": _softmax_axis0}),
    Mistake("cross_entropy_sum_not_mean", "the loss is the MEAN over the N examples, so its gradient carries 1 / N", {
        "cross_entropy": lambda z, y: sm.cross_entropy(z, y) * np.shape(z)[0],
        "softmax_cross_entropy_backward": _scel_not_mean}),
    Mistake("forgot_onehot", "the gradient of softmax cross-entropy is softmax(z) MINUS the one-hot label, over N", {
        "softmax_cross_entropy_backward": _scel_no_onehot}),
    Mistake("mean_instead_of_sum", "a sum is needed here, not a mean (sum pooling adds the window; db adds dout over "
            "the batch and every position)", {
                "sum_pool2d": pool.avg_pool2d,
                "conv2d_backward": _db_mean(conv.conv2d_backward, (0, 2, 3)),
                "dense_backward": _db_mean(layers.dense_backward, 0)}),
    Mistake("sum_instead_of_mean", "average pooling divides the window sum by the window size KH * KW", {
        "avg_pool2d": pool.sum_pool2d, "avg_pool2d_backward": pool.sum_pool2d_backward}),
    Mistake("dw_not_summed_over_batch", "dw must add the contributions of EVERY image in the batch, not only the first",
            {"conv2d_backward": _first_image(conv.conv2d_backward, 1),
             "dense_backward": _first_image(layers.dense_backward, 1)}),
    Mistake("grad_to_all_tied_maxima",
            "when several elements tie for a window's maximum, only the first (row-major) receives the gradient", {
                "max_pool2d_backward": _max_pool_backward_all_ties}),
    Mistake("grad_to_last_tied_maximum",
            "with ties, the gradient goes to the FIRST maximum in row-major order (like PyTorch), not the last", {
                "max_pool2d_backward": _max_pool_backward_last_tie}),
    Mistake("grad_to_whole_window", "max pooling's gradient goes to the window's maximum only, not to every element", {
        "max_pool2d_backward": lambda dout, x, size=2, stride=None: pool.sum_pool2d_backward(dout, x, size, stride)}),
    Mistake("flatten_channels_last", "flatten in (C, H, W) order (x.reshape(N, -1)), not channels-last", {
        "flatten": _flatten_channels_last, "flatten_backward": _flatten_backward_channels_last}),
    Mistake("forward_difference", "use the central difference (f(x + h) - f(x - h)) / (2h): the one-sided one is "
            "much less accurate", {"numerical_gradient": _forward_difference}),
    Mistake("dout_ignored", "the gradient is of sum(f(x) * dout): weigh each output by dout", {
        "numerical_gradient": lambda f, x, dout, h=1e-5: numerical_gradient(f, np.array(x), np.ones_like(dout), h)}),
]
_OVERLAP = ("where windows overlap (stride < size) an element can win several windows: add each window's gradient "
            "(dx[...] += ...); assigning (=) keeps only the last")
_BIAS = "add b[f] once per output, after the window sum: out[n, f, i, j] = sum(window * w[f]) + b[f]"
_M += [
    Mistake("log_of_underflowed_probability",
            "-log(p) of a probability that underflowed to 0 is inf: use log-softmax, "
            "z - max - log(sum(exp(z - max))), never log(softmax(z))", {"cross_entropy": mv.ce_log_of_probability}),
    Mistake("logsumexp_overflow",
            "exp of a large logit overflows to inf, so log(sum(exp(z))) is inf: subtract each row's maximum first, "
            "log(sum(exp(z - max))) + max", {"cross_entropy": mv.ce_logsumexp_unshifted}),
    Mistake("pool_grad_overwritten", _OVERLAP, {"max_pool2d_backward": mv.pool_grad_assigned}),
    Mistake("pool_window_overwritten",
            "dx[window] = ... overwrites what the overlapping windows before it put there: accumulate with +=", {
                "max_pool2d_backward": mv.pool_window_assigned,
                "avg_pool2d_backward": lambda dout, x, size=2, stride=None: mv.pool_window_assigned(
                    dout, x, size, stride, average=True)}),
    Mistake("grad_split_between_ties",
            "tied maxima do not share the gradient: all of it goes to the first maximum (row-major) of the window", {
                "max_pool2d_backward": mv.pool_grad_split_between_ties}),
    Mistake("output_size_rounded",
            "round() rounds 5/3 up to 2: the number of windows uses floor division, (n + 2*pad - k) // stride + 1", {
                "output_size": mv.output_size_rounded}),
    Mistake("bias_in_window_sum", "the bias was added to every product of the window sum (C*KH*KW times): " + _BIAS, {
        "conv2d_forward": mv.conv_bias_times(lambda c, kh, kw: c * kh * kw)}),
    Mistake("bias_per_kernel_element", "the bias was added once per kernel element (KH*KW times): " + _BIAS, {
        "conv2d_forward": mv.conv_bias_times(lambda c, kh, kw: kh * kw)}),
    Mistake("bias_per_channel", "the bias was added once per input channel (C times): " + _BIAS, {
        "conv2d_forward": mv.conv_bias_times(lambda c, kh, kw: c)}),
    Mistake("crop_empty_at_pad_0",
            "dx_pad[..., p:-p] is EMPTY when p = 0 (-0 is 0): crop with dx_pad[:, :, PH:PH + H, PW:PW + W]", {
                "conv2d_backward": mv.dx_crop_empty_at_pad0}),
    Mistake("dx_not_cropped", "dx has the padded size: drop the padding's rows and columns, "
            "dx = dx_pad[:, :, PH:PH + H, PW:PW + W] (the zeros were constants, not inputs)", {
                "conv2d_backward": mv.dx_not_cropped}),
    Mistake("stride_must_divide",
            "a stride that does not divide H + 2*PH - KH is allowed: the windows stop where the next one would not "
            "fit (floor division), and the rows they never reach are left out", {
                f: mv.strided_rejected(f) for f in ("output_size", "correlate2d", "convolve2d", "conv2d_forward",
                                                    "conv2d_backward", "max_pool2d", "avg_pool2d", "sum_pool2d",
                                                    "max_pool2d_backward", "avg_pool2d_backward")}),
    Mistake("stride_forgotten_in_slice",
            "window (i, j) starts at row i*SH and column j*SW: slice x[..., i*SH:i*SH + KH, j*SW:j*SW + KW], not "
            "x[..., i:i + KH, j:j + KW]", {
                **{f: mv.stride_forgotten_forward(fn) for f, fn in (
                    ("correlate2d", conv.correlate2d), ("convolve2d", conv.convolve2d),
                    ("conv2d_forward", conv.conv2d_forward))},
                **{f: mv.stride_forgotten_forward(fn, pooling=True) for f, fn in (
                    ("max_pool2d", pool.max_pool2d), ("avg_pool2d", pool.avg_pool2d),
                    ("sum_pool2d", pool.sum_pool2d))},
                **{f: mv.stride_forgotten_backward(f) for f in (
                    "conv2d_backward", "max_pool2d_backward", "avg_pool2d_backward")}}),
    Mistake("difference_over_h", "the central difference divides by 2h, the distance between x - h and x + h", {
        "numerical_gradient": mv.numerical_gradient_over_h}),
    Mistake("x_not_restored", "put x[i] back to its old value after nudging it: later elements were differentiated "
            "at a moved x", {"numerical_gradient": mv.numerical_gradient_not_restored}),
    Mistake("relu_grad_at_zero", "at exactly x = 0 the gradient of ReLU is 0 (like PyTorch): pass dout only where "
            "x > 0, not x >= 0", {"relu_backward": mv.relu_backward_at_zero}),
]
_M += [Mistake(name, explanation, variants) for name, explanation, variants in mv.RECEPTIVE_FIELD_MISTAKES]

# Generic mistakes, last. The constant factors apply to every single-array (or scalar) result; N (the batch size,
# the first axis of the first argument) only to losses and gradients, where a sum and a mean over the batch meet.
_SINGLE = {"rgb_to_grayscale": image.rgb_to_grayscale, "zero_pad": conv.zero_pad, "correlate2d": conv.correlate2d,
           "convolve2d": conv.convolve2d, "conv2d_forward": conv.conv2d_forward, "relu": layers.relu,
           "max_pool2d": pool.max_pool2d, "avg_pool2d": pool.avg_pool2d, "sum_pool2d": pool.sum_pool2d,
           "flatten": layers.flatten, "dense_forward": layers.dense_forward, "softmax": sm.softmax,
           "cross_entropy": sm.cross_entropy, "relu_backward": layers.relu_backward,
           "max_pool2d_backward": pool.max_pool2d_backward, "avg_pool2d_backward": pool.avg_pool2d_backward,
           "flatten_backward": layers.flatten_backward,
           "softmax_cross_entropy_backward": sm.softmax_cross_entropy_backward,
           "numerical_gradient": numerical_gradient}
_BATCHED = ("cross_entropy", "softmax_cross_entropy_backward", "relu_backward", "max_pool2d_backward",
            "avg_pool2d_backward", "flatten_backward")


def _batch(args):
    return np.shape(args[0])[0] if np.ndim(args[0]) >= 2 and np.shape(args[0])[0] > 1 else None


def _factor(k, only=None):
    return {f: mv.scaled(fn, k if callable(k) else lambda args: k) for f, fn in _SINGLE.items()
            if only is None or f in only}


_M += [
    Mistake("off_by_factor_2", "your answer is exactly 2 times the expected one: something is counted twice "
            "(or a division by 2 is missing)", _factor(2.0), generic=True),
    Mistake("off_by_factor_half", "your answer is exactly half the expected one: a factor 2 is missing "
            "(or something is divided by 2 once too often)", _factor(0.5), generic=True),
    Mistake("off_by_factor_n", "your answer is N times the expected one (N = the batch size): a mean over the "
            "batch is needed, not a sum (divide by N)", _factor(_batch, _BATCHED), generic=True),
    Mistake("off_by_factor_1_over_n", "your answer is 1/N of the expected one (N = the batch size): you divided by "
            "N where the batch is summed, or divided twice", _factor(lambda a: _batch(a) and 1.0 / _batch(a), _BATCHED),
            generic=True),
    Mistake("answer_transposed", "your answer is the expected one transposed (rows and columns, the last two axes, "
            "swapped): check the order of your indices", {f: mv.transposed(fn) for f, fn in _SINGLE.items()},
            generic=True),
]
MISTAKES: dict[str, Mistake] = {m.name: m for m in _M}


def mistakes_for(function: str) -> list[Mistake]:
    return [m for m in _M if function in m.variants]


_SAME_RTOL = 1e-9  # two routes to one answer (a sum x N, a mean that is not divided) agree far closer than this


def _same(a, b) -> bool:
    """Whether two mistaken answers are one and the same (to rounding): the later mistake is then redundant."""
    if isinstance(a, Raises) or isinstance(b, Raises):
        return isinstance(a, Raises) and isinstance(b, Raises) and a == b
    if isinstance(a, tuple) or isinstance(b, tuple):
        return (isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b, strict=True)))
    try:
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and bool(np.allclose(a, b, rtol=_SAME_RTOL, atol=0.0, equal_nan=True))
    except (TypeError, ValueError):
        return False


def mistaken_answers(function: str, args: tuple, kwargs: dict) -> dict[str, Any]:
    """``{mistake name: the answer that mistake gives}`` on these inputs (mistakes that do not apply left out, and
    generic ones whose answer an earlier mistake of the catalogue already gives)."""
    answers: dict[str, Any] = {}
    for m in mistakes_for(function):
        copied = tuple(np.array(a) if isinstance(a, np.ndarray) else a for a in args)
        try:
            with np.errstate(all="ignore"):
                value = m.variants[function](*copied, **kwargs)
        except (ValueError, TypeError, IndexError):
            continue  # the mistake cannot be expressed on these inputs
        if value is not None and not (m.generic and any(_same(value, v) for v in answers.values())):
            answers[m.name] = value
    return answers
