"""The code a generated student writes: a body per known mistake (:data:`MISTAKE_CODE`) and per hostile trick
(:data:`HOSTILE_CODE`), put in place of a released stub by :mod:`autograder.factory` for the demo's class
(:mod:`autograder.classgen`), the throughput benchmark and the tests.
"""
from __future__ import annotations

import textwrap

from autograder.mistakes import MISTAKES

__all__ = ["MISTAKE_CODE", "UNDIAGNOSED", "HOSTILE_CODE", "HOSTILE_KINDS", "TESTING_PATCH"]

# mistake -> {function: the body a student with that mistake writes in place of the stub (after the provided
# input checks, so it uses their names: x, kh, kw, sh, sw for pooling, ...)}. The names are autograder.mistakes'
# (the grader diagnoses them), except UNDIAGNOSED ones, which the grader marks wrong without naming a mistake.
MISTAKE_CODE: dict[str, dict[str, str]] = {
    "grayscale_unweighted": {"rgb_to_grayscale": "return img.astype(np.float64).mean(axis=2)  # average of R, G, B"},
    "grayscale_bgr": {"rgb_to_grayscale": """
        dtype = np.float32 if img.dtype == np.float32 else np.float64
        return img.astype(dtype) @ np.array([0.114, 0.587, 0.299], dtype=dtype)"""},
    "output_size_off_by_one": {"output_size": """
        if k > n + 2 * pad:
            raise ValueError(f"kernel of size k={k} does not fit input of size n={n} with pad={pad}")
        return (n + 2 * pad - k) // stride"""},
    "pad_counted_once": {"output_size": """
        if k > n + 2 * pad:
            raise ValueError(f"kernel of size k={k} does not fit input of size n={n} with pad={pad}")
        return (n + pad - k) // stride + 1"""},
    "pad_one_side": {"zero_pad": """
        *lead, h, w = x.shape
        xp = np.zeros((*lead, h + ph, w + pw), dtype=x.dtype)
        xp[..., ph:, pw:] = x  # zeros above and to the left
        return xp"""},
    "zero_pad_all_axes": {"zero_pad": "return np.pad(x, [(ph, ph)] * (x.ndim - 1) + [(pw, pw)])"},
    "flipped_kernel": {"correlate2d": """
        kernel = kernel[::-1, ::-1]  # turn the kernel around, as in the convolution formula
        kh, kw = kernel.shape
        if pad == "same":
            padded = np.pad(image, (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)))
        elif pad == "full":
            padded = zero_pad(image, (kh - 1, kw - 1))
        else:
            padded = zero_pad(image, 0 if pad == "valid" else pad)
        ho, wo = output_size(padded.shape[0], kh, sh), output_size(padded.shape[1], kw, sw)
        out = np.zeros((ho, wo), dtype=same_float_dtype(image, kernel))
        for y in range(ho):
            for x in range(wo):
                out[y, x] = np.sum(padded[y * sh:y * sh + kh, x * sw:x * sw + kw] * kernel)
        return out"""},
    "stride_ignored": {
        "correlate2d": """
            kh, kw = kernel.shape
            if pad == "same":
                padded = np.pad(image, (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)))
            elif pad == "full":
                padded = zero_pad(image, (kh - 1, kw - 1))
            else:
                padded = zero_pad(image, 0 if pad == "valid" else pad)
            ho, wo = padded.shape[0] - kh + 1, padded.shape[1] - kw + 1  # one output per window position
            out = np.zeros((ho, wo), dtype=same_float_dtype(image, kernel))
            for y in range(ho):
                for x in range(wo):
                    out[y, x] = np.sum(padded[y:y + kh, x:x + kw] * kernel)
            return out""",
        "max_pool2d": """
            n, c, h, w = x.shape
            out = np.zeros((n, c, h - kh + 1, w - kw + 1), dtype=x.dtype)
            for i in range(h - kh + 1):
                for j in range(w - kw + 1):
                    out[:, :, i, j] = x[:, :, i:i + kh, j:j + kw].max(axis=(2, 3))
            return out"""},
    "kernel_not_flipped": {"convolve2d": "return correlate2d(image, kernel, stride=stride, pad=pad)"},
    "flipped_one_axis": {"convolve2d": "return correlate2d(image, kernel[::-1], stride=stride, pad=pad)"},
    "missing_bias": {
        "conv2d_forward": """
            xp = zero_pad(x, (ph, pw))
            f, _, kh, kw = w.shape
            ho, wo = output_size(xp.shape[2], kh, sh), output_size(xp.shape[3], kw, sw)
            out = np.zeros((x.shape[0], f, ho, wo), dtype=same_float_dtype(x, w, b))
            for i in range(ho):
                for j in range(wo):
                    window = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]  # (N, C, KH, KW)
                    out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3]))
            return out""",
        "dense_forward": "return x @ w"},
    "relu_wrong_side": {"relu": "return np.minimum(x, 0)", "relu_backward": "return dout * (x < 0)"},
    "sum_instead_of_mean": {
        "avg_pool2d": """
            windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
            return windows.sum(axis=(-2, -1))""",
        "avg_pool2d_backward": """
            Ho, Wo = dout.shape[2:]
            dx = np.zeros(x.shape, dtype=same_float_dtype(dout, x))
            for i in range(Ho):
                for j in range(Wo):
                    dx[:, :, i * SH:i * SH + KH, j * SW:j * SW + KW] += dout[:, :, i, j, None, None]
            return dx"""},
    "mean_instead_of_sum": {
        "sum_pool2d": """
            windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
            return windows.mean(axis=(-2, -1))""",
        "dense_backward": "return dout @ w.T, x.T @ dout, dout.mean(axis=0)"},
    "flatten_channels_last": {
        "flatten": "return x.transpose(0, 2, 3, 1).reshape(x.shape[0], -1)",
        "flatten_backward": """
            n, c, h, w = x_shape
            return dout.reshape(n, h, w, c).transpose(0, 3, 1, 2)"""},
    "weights_transposed": {
        "dense_forward": "return x @ w.T + b",
        "dense_backward": "return dout @ w.T, dout.T @ x, dout.sum(axis=0)"},
    "softmax_overflow": {
        "softmax": """
            e = np.exp(z)
            return e / e.sum(axis=-1, keepdims=True)""",
        "cross_entropy": """
            p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            return np.mean(-np.log(p[np.arange(len(y)), y]))"""},
    "softmax_wrong_axis": {"softmax": """
        e = np.exp(z - z.max(axis=0, keepdims=True))
        return e / e.sum(axis=0, keepdims=True)"""},
    "cross_entropy_sum_not_mean": {
        "cross_entropy": """
            z64 = z.astype(np.float64)
            shifted = z64 - z64.max(axis=1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            return z.dtype.type(-np.sum(log_p[np.arange(len(y)), y]))  # the loss of the whole batch""",
        "softmax_cross_entropy_backward": """
            e = np.exp(z - z.max(axis=1, keepdims=True))
            dz = e / e.sum(axis=1, keepdims=True)
            dz[np.arange(n), y] -= 1
            return dz"""},
    "forgot_onehot": {"softmax_cross_entropy_backward": """
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True) / n"""},
    "dw_not_summed_over_batch": {"dense_backward": """
        dx = dout @ w.T
        dw = np.outer(x[0], dout[0])  # x^T dout, as on the slide for one input
        return dx, dw, dout.sum(axis=0)"""},
    "grad_to_all_tied_maxima": {"max_pool2d_backward": """
        Ho, Wo = dout.shape[2:]
        dx = np.zeros(x.shape, dtype=same_float_dtype(dout, x))
        for i in range(Ho):
            for j in range(Wo):
                window = x[:, :, i * SH:i * SH + KH, j * SW:j * SW + KW]
                is_max = window == window.max(axis=(2, 3), keepdims=True)
                dx[:, :, i * SH:i * SH + KH, j * SW:j * SW + KW] += is_max * dout[:, :, i, j, None, None]
        return dx"""},
    "grad_to_last_tied_maximum": {"max_pool2d_backward": """
        N, C, Ho, Wo = dout.shape
        dx = np.zeros(x.shape, dtype=same_float_dtype(dout, x))
        for n, c, i, j in np.ndindex(N, C, Ho, Wo):
            window = x[n, c, i * SH:i * SH + KH, j * SW:j * SW + KW]
            r, s = np.argwhere(window == window.max())[-1]
            dx[n, c, i * SH + r, j * SW + s] += dout[n, c, i, j]
        return dx"""},
    "grad_to_whole_window": {"max_pool2d_backward": """
        Ho, Wo = dout.shape[2:]
        dx = np.zeros(x.shape, dtype=same_float_dtype(dout, x))
        for i in range(Ho):
            for j in range(Wo):
                dx[:, :, i * SH:i * SH + KH, j * SW:j * SW + KW] += dout[:, :, i, j, None, None]
        return dx"""},
    "forward_difference": {"numerical_gradient": """
        dx = np.zeros(x.shape)
        base = np.sum(f(x) * dout)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + h
            dx[i] = (np.sum(f(x) * dout) - base) / h
            x[i] = old
        return dx"""},
    "dout_ignored": {"numerical_gradient": """
        dx = np.zeros(x.shape)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + h
            plus = np.sum(f(x))
            x[i] = old - h
            minus = np.sum(f(x))
            x[i] = old
            dx[i] = (plus - minus) / (2 * h)
        return dx"""},
    # Not a named mistake: the mask taken from the upstream gradient instead of the forward input.
    "relu_mask_from_dout": {"relu_backward": "return dout * (dout > 0)"},
}
UNDIAGNOSED = frozenset(name for name in MISTAKE_CODE if name not in MISTAKES)

# Hostile tricks: kind -> {function: body}, in functions no other graded function calls (a trick in zero_pad would
# also break correlate2d). "loop_forever" hangs on one case of its function (an axis of length 1, a single pixel),
# so it costs one call timeout, not one per case. The others replace nothing but that body,
# except "patch_testing" (top-level patches of numpy's comparisons, the function itself left a stub) and
# "syntax_error" (the function's cell does not compile, so the function is missing).
_SPIN = "while True:  # TODO handle this case\n    pass\n"
HOSTILE_CODE: dict[str, dict[str, str | None]] = {
    "loop_forever": {
        "flatten": """
            d, axis = 1, 1
            while axis < x.ndim:  # multiply the lengths of the other axes
                d *= x.shape[axis]
                if x.shape[axis] > 1:
                    axis += 1
            return x.reshape(x.shape[0], d)""",
        "flatten_backward": f"if 1 in x_shape[1:]:\n{textwrap.indent(_SPIN, '    ')}return dout.reshape(x_shape)",
        "rgb_to_grayscale": f"if img.shape[:2] == (1, 1):\n{textwrap.indent(_SPIN, '    ')}"
                            "return img.astype(np.float32 if img.dtype == np.float32 else np.float64) "
                            "@ np.array([0.299, 0.587, 0.114])",
    },
    "exits": {f: "import os\nos._exit(0)  # leave as soon as I am called" for f in
              ("relu", "relu_backward", "rgb_to_grayscale", "cnn_loss_and_grads")},
    "prints_a_lot": {f: "for _ in range(3000):\n    print('debugging', np.arange(100))\n{solution}" for f in
                     ("softmax", "dense_backward", "correlate2d", "cnn_loss_and_grads")},
    "syntax_error": {f: "for i in range(3)  # forgot the colon\n    pass\n{solution}" for f in
                     ("avg_pool2d", "avg_pool2d_backward", "convolve2d", "cnn_loss_and_grads")},
    "patch_testing": {f: None for f in ("sum_pool2d", "flatten_backward", "convolve2d", "cnn_loss_and_grads")},
}
HOSTILE_KINDS = tuple(HOSTILE_CODE)
TESTING_PATCH = """

# make every check pass
np.testing.assert_allclose = lambda *args, **kwargs: None
np.allclose = lambda *args, **kwargs: True
np.isclose = lambda a, b, *args, **kwargs: np.ones(np.broadcast(a, b).shape, dtype=bool)
"""
