"""Convolution: zero padding, output size, single-channel correlation/convolution, the batched conv layer and its
gradients, and the receptive field of a stack of layers. Reference solutions of assignment 1 (``convolution``) and
of ``conv2d_backward`` in assignment 3.

Shape letters: see the glossary in :mod:`reference._checks` (N, C, H, W, F, KH, KW, H', W', SH, SW, PH, PW).
Like PyTorch, the layers compute **cross-correlation** (the kernel is not flipped); :func:`convolve2d` is the
textbook convolution, the kernel flipped in both axes first.

dtype rule: the result is float32 only when every input is float32; integer and bool inputs become float64
first, so any float64 or integer input gives float64.
"""
from __future__ import annotations

import numpy as np

from reference import _conv_impl as _impl
from reference import _conv_phase as _phase
from reference import _conv_plan as _plan
from reference._checks import as_float_array, pair, positive_int, same_float_dtype

__all__ = [
    "PAD_MODES",
    "zero_pad",
    "output_size",
    "receptive_field",
    "correlate2d",
    "convolve2d",
    "conv2d_forward",
    "conv2d_backward",
]

PAD_MODES = ("valid", "same", "full")
"""String paddings accepted by :func:`correlate2d` and :func:`convolve2d`."""


def zero_pad(x, pad):
    """Add zeros on both sides of the last two axes.

    Inputs:
    - x: array of shape (..., H, W), at least 2 dimensions (an image (H, W), a batch (N, C, H, W), ...)
    - pad: int P or pair (PH, PW) >= 0: rows added at top and bottom, columns at left and right

    Returns:
    - xp: array of shape (..., H + 2*PH, W + 2*PW), same dtype as x, x in the middle
    """
    x = np.asarray(x) if isinstance(x, (list, tuple)) else x
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a NumPy array, got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"x must have at least 2 dimensions (..., H, W), got shape {x.shape}")
    ph, pw = pair(pad, "pad", allow_zero=True)
    return _impl.pad_hw(x, ph, ph, pw, pw)


def output_size(n, k, stride=1, pad=0):
    """Length of the output along one axis: ``(n + 2*pad - k) // stride + 1``.

    Inputs:
    - n: input length (H or W), int > 0
    - k: kernel length (KH or KW), int > 0
    - stride: step between windows (SH or SW), int > 0
    - pad: zeros added on each side (PH or PW), int >= 0

    Returns:
    - the output length (H' or W'), an int >= 1; ValueError when the kernel does not fit the padded input
    """
    n = positive_int(n, "n")
    k = positive_int(k, "k")
    stride = positive_int(stride, "stride")
    pad = positive_int(pad, "pad", allow_zero=True)
    if k > n + 2 * pad:
        raise ValueError(f"kernel of size k={k} does not fit input of size n={n} with pad={pad} "
                         f"(n + 2*pad = {n + 2 * pad})")
    return (n + 2 * pad - k) // stride + 1


def _layer_sizes(v, name: str) -> list[int]:
    """A sequence of ints > 0 (a list, a tuple or a 1-D array), one per layer, as a list of Python ints."""
    if isinstance(v, np.ndarray):
        if v.ndim != 1:
            raise ValueError(f"{name} must be a sequence of ints, one per layer, got an array of shape {v.shape}")
    elif not isinstance(v, (list, tuple)):
        raise TypeError(f"{name} must be a sequence of ints (a list or tuple), one per layer, got {type(v).__name__}")
    return [positive_int(x, f"{name}[{i}]") for i, x in enumerate(v)]


def receptive_field(kernel_sizes, strides):
    """Side of the input window that one output of a stack of layers sees.

    ``r = 1 + sum_i (k_i - 1) * prod_{j<i} s_j``: layer i widens the window by ``k_i - 1`` of its own inputs, which
    lie ``s_0 * ... * s_{i-1}`` input pixels apart (the strides of the layers below it; its own stride only spaces
    its outputs). A pooling layer counts as a layer with ``k`` its window size and ``s`` its stride; padding does
    not change ``r``. ``r`` is the span, first pixel to last: where a kernel is smaller than the stride below it,
    some pixels inside the window are never read.

    Inputs:
    - kernel_sizes: sequence of L ints > 0, the kernel side KH (= KW) of each layer, the first layer first
    - strides: sequence of L ints > 0, the stride of each layer

    Returns:
    - r: an int >= 1 (1 for an empty stack: the pixel itself)
    """
    ks = _layer_sizes(kernel_sizes, "kernel_sizes")
    ss = _layer_sizes(strides, "strides")
    if len(ks) != len(ss):
        raise ValueError(f"kernel_sizes and strides must have one entry per layer, got {len(ks)} kernel sizes "
                         f"and {len(ss)} strides")
    r, jump = 1, 1
    for k, s in zip(ks, ss, strict=True):
        r += (k - 1) * jump
        jump *= s
    return r


def _layer_geometry(x_shape, w_shape, stride, pad, x_name="x", w_name="w"):
    """Check stride/pad, and that the (KH, KW) kernel fits the (H, W) input; return ((SH, SW), (PH, PW), H', W')."""
    sh, sw = pair(stride, "stride")
    ph, pw = pair(pad, "pad", allow_zero=True)
    (h, wd), (kh, kw) = x_shape[-2:], w_shape[-2:]
    if kh > h + 2 * ph or kw > wd + 2 * pw:
        raise ValueError(
            f"kernel {w_name} of shape {tuple(w_shape)} (KH, KW = {kh}, {kw}) does not fit {x_name} of shape "
            f"{tuple(x_shape)} padded by (PH, PW) = ({ph}, {pw})")
    return (sh, sw), (ph, pw), (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1


def _string_pad(mode: str, kh: int, kw: int, stride) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) zeros for a padding mode.

    ``"same"`` keeps H x W at stride 1. An odd kernel pads (K-1)//2 on each side; an even kernel cannot be centred,
    and, like ``torch.nn.functional.conv2d(padding="same")``, puts the extra zero at the bottom/right.
    """
    if mode == "valid":
        return 0, 0, 0, 0
    if mode == "full":
        return kh - 1, kh - 1, kw - 1, kw - 1
    if stride != (1, 1):
        raise ValueError(f"pad='same' needs stride 1, got stride {stride}")
    return (kh - 1) // 2, kh // 2, (kw - 1) // 2, kw // 2


def correlate2d(image, kernel, stride=1, pad=0):
    """Single-channel cross-correlation: slide the kernel, multiply and sum (no flip).

    ``out[y, x] = sum_{i, j} image_padded[y*SH + i, x*SW + j] * kernel[i, j]``

    Inputs:
    - image: array of shape (H, W)
    - kernel: array of shape (KH, KW)
    - stride: int or pair (SH, SW) > 0
    - pad: int or pair (PH, PW) >= 0, or "valid" (no padding), "same" (output H x W; stride 1 only; an even
      kernel gets its extra zero row/column at the bottom/right, like PyTorch) or "full" (KH-1, KW-1 on each side)

    Returns:
    - out: array of shape (H', W')
    """
    image = as_float_array(image, "image", 2, "(H, W)")
    kernel = as_float_array(kernel, "kernel", 2, "(KH, KW)")
    dtype = same_float_dtype(image, kernel)
    sh, sw = pair(stride, "stride")
    if isinstance(pad, str):
        if pad not in PAD_MODES:
            raise ValueError(f"pad must be an int, an (h, w) pair or one of {PAD_MODES}, got {pad!r}")
        kh, kw = kernel.shape
        top, bottom, left, right = _string_pad(pad, kh, kw, (sh, sw))
    else:
        ph, pw = pair(pad, "pad", allow_zero=True)
        top, bottom, left, right = ph, ph, pw, pw
    (h, wd), (kh, kw) = image.shape, kernel.shape
    if kh > h + top + bottom or kw > wd + left + right:
        raise ValueError(f"kernel of shape {kernel.shape} does not fit image of shape {image.shape} with pad {pad!r}")

    xp = _impl.pad_hw(image.astype(dtype, copy=False), top, bottom, left, right)[None, None]

    ho, wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    w = kernel.astype(dtype, copy=False)[None, None]
    # Already padded (maybe unevenly), so the phase route runs with no padding of its own.
    out = _phase.forward(xp, w, np.zeros(1, dtype), (sh, sw), (0, 0), ho, wo)

    return out[0, 0]


def convolve2d(image, kernel, stride=1, pad=0):
    """Single-channel true convolution: the kernel flipped in both axes, then :func:`correlate2d`.

    Inputs and returns as :func:`correlate2d`: image (H, W), kernel (KH, KW) -> out (H', W').
    """
    kernel = as_float_array(kernel, "kernel", 2, "(KH, KW)")
    return correlate2d(image, kernel[::-1, ::-1], stride=stride, pad=pad)


def _check_layer(x, w, b=None):
    """x (N, C, H, W), w (F, C, KH, KW) and b (F,) as arrays of their common float dtype."""
    x = as_float_array(x, "x", 4, "(N, C, H, W)")
    w = as_float_array(w, "w", 4, "(F, C, KH, KW)")
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"w of shape {w.shape} has C={w.shape[1]} channels but x of shape {x.shape} "
                         f"has C={x.shape[1]}")
    arrays = [x, w]
    if b is not None:
        b = as_float_array(b, "b", 1, "(F,)")
        if b.shape[0] != w.shape[0]:
            raise ValueError(f"b of shape {b.shape} must have F={w.shape[0]} entries, one per filter of w {w.shape}")
        arrays.append(b)
    dtype = same_float_dtype(*arrays)
    return [a.astype(dtype, copy=False) for a in arrays]


def conv2d_forward(x, w, b, stride=1, pad=0):
    """Convolutional layer forward pass (cross-correlation, like ``torch.nn.functional.conv2d``).

    ``out[n, f, y, x] = b[f] + sum_{c, i, j} x_padded[n, c, y*SH + i, x*SW + j] * w[f, c, i, j]``

    Inputs:
    - x: input of shape (N, C, H, W)
    - w: filters of shape (F, C, KH, KW)
    - b: biases of shape (F,)
    - stride: int or pair (SH, SW) > 0
    - pad: int or pair (PH, PW) >= 0, zeros on each side of H and W

    Returns:
    - out: array of shape (N, F, H', W') where H' = (H + 2*PH - KH) // SH + 1, W' = (W + 2*PW - KW) // SW + 1

    The plain NumPy version of this sum (an einsum over the input's windows) is
    :func:`reference._conv_plain.forward`: read that one first; the fast routes compute the same numbers.
    """
    x, w, b = _check_layer(x, w, b)
    stride, (ph, pw), ho, wo = _layer_geometry(x.shape, w.shape, stride, pad)

    # Which algorithm runs (im2col + GEMM, polyphase, FFT; block sizes) is measured per layer shape on first use
    # (reference._conv_plan); all compute the sum above.
    out = _plan.forward(x, w, b, stride, (ph, pw), ho, wo)

    return out


def conv2d_backward(dout, x, w, stride=1, pad=0):
    """Convolutional layer backward pass: gradients of a loss L given ``dout = dL/dout``.

    Inputs:
    - dout: upstream gradient of shape (N, F, H', W')
    - x: the forward input, shape (N, C, H, W)
    - w: the forward filters, shape (F, C, KH, KW)
    - stride, pad: as in :func:`conv2d_forward`

    Returns a tuple of:
    - dx: gradient w.r.t. x, shape (N, C, H, W)
    - dw: gradient w.r.t. w, shape (F, C, KH, KW)
    - db: gradient w.r.t. b, shape (F,)

    The plain NumPy version (two einsums and a loop over the kernel taps) is :func:`reference._conv_plain.backward`.
    """
    x, w = _check_layer(x, w)
    stride, (ph, pw), ho, wo = _layer_geometry(x.shape, w.shape, stride, pad)
    dout = as_float_array(dout, "dout", 4, "(N, F, H', W')")
    want = (x.shape[0], w.shape[0], ho, wo)
    if dout.shape != want:
        raise ValueError(f"dout must have shape (N, F, H', W') = {want} for x {x.shape}, w {w.shape}, "
                         f"stride {stride}, pad {(ph, pw)}; got shape {dout.shape}")
    dtype = same_float_dtype(dout, x, w)
    dout, x, w = (a.astype(dtype, copy=False) for a in (dout, x, w))

    dx, dw, db = _plan.backward(dout, x, w, stride, (ph, pw))

    return dx, dw, db
