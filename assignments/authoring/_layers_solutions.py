"""The student functions of the ``layers`` notebook: header (signature, shape contract, input checks) and the
solution that nbgrader replaces with a stub; tests/assignments/test_notebooks.py grades them against the reference.
"""
from __future__ import annotations

import textwrap

from assignments.authoring.nb import solution_cell

__all__ = ["solutions"]

# The same checks open every pooling function: x (N, C, H, W), the window, the stride, the window must fit.
_POOL_CHECKS = '''
    x = as_float_array(x, "x", 4, "(N, C, H, W)")
    kh, kw = pair(size, "size")
    sh, sw = pair(size if stride is None else stride, "stride")
    if kh > x.shape[2] or kw > x.shape[3]:
        raise ValueError(f"size ({kh}, {kw}) (KH, KW) does not fit in x of shape {x.shape} (N, C, H, W)")'''

_POOL_DOC = '''
    Inputs:
    - x: (N, C, H, W)
    - size: window KH x KW, an int or an (h, w) pair
    - stride: SH, SW, an int or an (h, w) pair; defaults to size

    Returns:
    - out: (N, C, H', W'), H' = (H - KH) // SH + 1, W' = (W - KW) // SW + 1; float32 for a float32 x
      (float32 in, float32 out), else float64 (np.zeros(shape) is float64: give it the dtype)
    """'''

_WINDOWS = '''
windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
# windows: (N, C, H', W', KH, KW)'''

_LOGIT_CHECKS = '''
    z = as_float_array(z, "z", {ndim}, "(N, K)")
    if z.ndim < 1 or z.shape[-1] < 1:
        raise ValueError(f"z must have at least one class on its last axis (N, K), got shape {{z.shape}}")
    if np.isnan(z).any() or np.isposinf(z).any():
        raise ValueError(f"z must hold finite logits (or -inf), got NaN or +inf in z of shape {{z.shape}}")'''


def _logit_checks(ndim) -> str:
    """The logit checks, indented to sit in a header written at 12 spaces inside :func:`solutions`."""
    return textwrap.indent(_LOGIT_CHECKS.format(ndim=ndim), " " * 12)


def _pool(name: str, what: str, reduce: str):
    header = f'''def {name}(x, size=2, stride=None):
    """{what} over each KH x KW window of each channel.
{_POOL_DOC}{_POOL_CHECKS}'''
    return solution_cell(name, header, f"{_WINDOWS}\nreturn windows.{reduce}(axis=(-2, -1))")


def solutions() -> dict:
    """``{function: solution cell}`` of the layers notebook."""
    cells = [
        solution_cell("relu", '''
            def relu(x):
                """Rectified linear unit max(0, x), element-wise.

                Inputs:
                - x: any shape, e.g. (N, C, H, W) or (N, D)

                Returns:
                - out: the shape of x; float32 for a float32 x (float32 in, float32 out), else float64
                """
                x = as_float_array(x, "x")
            ''', '''
            return np.maximum(x, 0)
            '''),
        _pool("max_pool2d", "Maximum", "max"),
        _pool("avg_pool2d", "Mean", "mean"),
        _pool("sum_pool2d", "Sum", "sum"),
        solution_cell("flatten", '''
            def flatten(x):
                """Each sample's values as one row: (N, C, H, W) -> (N, C*H*W) (any x with 2 or more axes).

                Inputs:
                - x: (N, ...), e.g. (N, C, H, W)

                Returns:
                - out: (N, D), D the product of the other axes, in row-major (C) order; float32 for a float32 x
                  (float32 in, float32 out), else float64
                """
                x = as_float_array(x, "x")
                if x.ndim < 2:
                    raise ValueError(f"x must have at least 2 dimensions (N, ...), got shape {x.shape}")
            ''', '''
            d = int(np.prod(x.shape[1:]))
            return x.reshape(x.shape[0], d)
            '''),
        solution_cell("dense_forward", '''
            def dense_forward(x, w, b):
                """Fully connected layer x @ w + b.

                Inputs:
                - x: (N, D)
                - w: weights (D, M)
                - b: biases (M,)

                Returns:
                - out: (N, M); float32 when x, w and b are all float32 (float32 in, float32 out), else float64
                """
                x = as_float_array(x, "x", 2, "(N, D)")
                w = as_float_array(w, "w", 2, "(D, M)")
                b = as_float_array(b, "b", 1, "(M,)")
                if w.shape[0] != x.shape[1]:
                    raise ValueError(f"w must have shape (D, M) with D = {x.shape[1]} from x of shape {x.shape}, got shape {w.shape}")
                if b.shape != (w.shape[1],):
                    raise ValueError(f"b must have shape (M,) = ({w.shape[1]},) for w of shape {w.shape}, got shape {b.shape}")
            ''', '''
            dtype = same_float_dtype(x, w, b)
            return x.astype(dtype) @ w.astype(dtype) + b.astype(dtype)
            '''),
        solution_cell("softmax", f'''
            def softmax(z):
                """Softmax over the last axis, row by row, without overflow for large logits.

                Inputs:
                - z: logits (N, K) (any shape with the K classes last)

                Returns:
                - p: the shape of z; each row is >= 0 and sums to 1; float32 for a float32 z (float32 in, float32 out),
                  else float64
                """{_logit_checks("None")}
            ''', '''
            shifted = z - z.max(axis=-1, keepdims=True)  # the largest exponent is e^0: no overflow
            e = np.exp(shifted)
            return e / e.sum(axis=-1, keepdims=True)
            '''),
        solution_cell("cross_entropy", f'''
            def cross_entropy(z, y):
                """Mean negative log-likelihood of the labels: mean over i of (log sum_k exp(z[i, k]) - z[i, y[i]]).

                Inputs:
                - z: logits (N, K)
                - y: integer labels (N,) in [0, K)

                Returns:
                - loss: a number (a NumPy scalar of the dtype of z, or a Python float: its dtype is not graded)
                """{_logit_checks(2)}
                y = as_array(y, "y", 1, "(N,)")
                if not np.issubdtype(y.dtype, np.integer):
                    raise TypeError(f"y must hold integer class labels, got dtype {{y.dtype}} with shape {{y.shape}}")
                if y.shape != (z.shape[0],) or z.shape[0] == 0:
                    raise ValueError(f"y must have shape (N,) = ({{z.shape[0]}},) with N >= 1 for z of shape {{z.shape}}, got shape {{y.shape}}")
                if y.min() < 0 or y.max() >= z.shape[1]:
                    raise ValueError(f"y must hold labels in [0, K) = [0, {{z.shape[1]}}) for z of shape {{z.shape}}, got [{{y.min()}}, {{y.max()}}]")
            ''', '''
            z64 = z.astype(np.float64)
            top = z64.max(axis=1, keepdims=True)
            log_sum_exp = np.log(np.exp(z64 - top).sum(axis=1)) + top[:, 0]
            loss = np.mean(log_sum_exp - z64[np.arange(z.shape[0]), y])
            return z.dtype.type(loss)
            '''),
    ]
    return {c.metadata["nbgrader"]["grade_id"][:-len("_solution")]: c for c in cells}
