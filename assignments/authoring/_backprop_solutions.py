"""The solution cells of the backprop notebook: each student function's header (signature, shape contract, input
checks) and its solution body, plus the cell where the student brings in the forward passes of assignments 1-2.

The bodies are written to be read by a student who has just failed: one idea per line, the slides' formulas in the
comments. tests/assignments/test_notebooks_34.py grades them against the reference on every case.
"""
from __future__ import annotations

import textwrap

import nbformat

from assignments.authoring import nb

__all__ = ["FUNCTIONS", "POOL_CHECKS", "FORWARD_PASTE", "solutions", "paste_cell", "forward_functions",
           "backward_functions", "forward_paste_cell"]

# name -> (header, solution); headers keep the input checks, so a released stub still rejects a bad shape.
_CELLS = {
    "numerical_gradient": ('''
        def numerical_gradient(f, x, dout, h=1e-5):
            """Central-difference gradient of ``L = sum(f(x) * dout)`` with respect to ``x``.

            ``x`` is nudged in place, one element at a time (``f`` is called twice per element), and every element
            is put back afterwards, so the caller's array ends unchanged.

            Inputs:
            - f: a function of one array, returning an array of the shape of ``dout``
            - x: float64 array of any shape, e.g. ``(N, C, H, W)``
            - dout: upstream gradient, the shape of ``f(x)``
            - h: the step, a small positive number

            Returns ``dx`` of the shape of ``x``, float64: ``dx[i] = (L(x + h e_i) - L(x - h e_i)) / (2 h)``.
            """
            if not callable(f):
                raise TypeError(f"f must be callable, got {type(f).__name__}")
            x = as_array(x, "x")
            if x.dtype != np.float64:
                raise TypeError(f"x must be float64 (a step of h is lost in float32 rounding), got dtype {x.dtype} "
                                f"with shape {x.shape}")
            if not x.flags.writeable:
                raise ValueError(f"x must be writeable (it is perturbed in place), got a read-only array of shape {x.shape}")
            dout = as_float_array(dout, "dout").astype(np.float64, copy=False)
            if isinstance(h, bool) or not isinstance(h, numbers.Real):
                raise TypeError(f"h must be a real number, got {h!r}")
            if not 0 < h < np.inf:
                raise ValueError(f"h must be positive and finite, got {h}")
            if np.shape(f(x)) != dout.shape:
                raise ValueError(f"dout must have the shape of f(x) {np.shape(f(x))}, got shape {dout.shape}")
        ''', '''
        dx = np.zeros(x.shape, dtype=np.float64)
        for i in np.ndindex(x.shape):           # every index tuple of x, in row-major order
            old = x[i]
            try:
                x[i] = old + h
                plus = np.sum(f(x) * dout)       # L a step to the right
                x[i] = old - h
                minus = np.sum(f(x) * dout)      # L a step to the left
            finally:
                x[i] = old                       # put it back, even if f raised
            dx[i] = (plus - minus) / (2 * h)     # slope of the chord: error O(h^2)
        return dx
        '''),
    "relu_backward": ('''
        def relu_backward(dout, x):
            """Gradient of ``relu``: ``dout`` where ``x > 0``, else 0 (also at ``x == 0``, like PyTorch).

            Inputs:
            - dout: upstream gradient, the shape of ``x``
            - x: the forward input, any shape, e.g. ``(N, C, H, W)``

            Returns ``dx`` of the shape of ``x`` (float32 only when both inputs are float32).
            """
            dout = as_float_array(dout, "dout")
            x = as_float_array(x, "x")
            if dout.shape != x.shape:
                raise ValueError(f"dout must have the shape of x {x.shape}, got shape {dout.shape}")
        ''', '''
        dtype = same_float_dtype(dout, x)
        # ReLU is the identity where x > 0 (slope 1) and constant 0 elsewhere (slope 0).
        dx = np.where(x > 0, dout, 0).astype(dtype)
        return dx
        '''),
    "dense_backward": ('''
        def dense_backward(dout, x, w):
            """Gradients of the dense layer ``out = x @ w + b`` with respect to ``x``, ``w`` and ``b``.

            Inputs:
            - dout: upstream gradient ``(N, M)``
            - x: the forward input ``(N, D)``
            - w: weights ``(D, M)``

            Returns ``(dx, dw, db)`` of shapes ``(N, D)``, ``(D, M)``, ``(M,)``, each float32 when dout, x and w
            are all float32 (float32 in, float32 out), else float64.
            """
            x = as_float_array(x, "x", 2, "(N, D)")
            w = as_float_array(w, "w", 2, "(D, M)")
            dout = as_float_array(dout, "dout", 2, "(N, M)")
            if w.shape[0] != x.shape[1]:
                raise ValueError(f"w must have shape (D, M) with D = {x.shape[1]} from x of shape {x.shape}, got shape {w.shape}")
            if dout.shape != (x.shape[0], w.shape[1]):
                raise ValueError(f"dout must have shape (N, M) = {(x.shape[0], w.shape[1])} for x {x.shape} and "
                                 f"w {w.shape}, got shape {dout.shape}")
        ''', '''
        dtype = same_float_dtype(dout, x, w)
        dout, x, w = dout.astype(dtype), x.astype(dtype), w.astype(dtype)
        dx = dout @ w.T           # (N, M) @ (M, D): each input feeds every output through its weight
        dw = x.T @ dout           # (D, N) @ (N, M): summed over the batch
        db = dout.sum(axis=0)     # the bias is added to every row
        return dx, dw, db
        '''),
    "flatten_backward": ('''
        def flatten_backward(dout, x_shape):
            """Gradient of ``flatten``: ``dout`` put back into the shape of the forward input.

            Inputs:
            - dout: upstream gradient ``(N, D)``
            - x_shape: the forward input's shape, e.g. ``(N, C, H, W)`` with ``C*H*W == D``

            Returns ``dx`` of shape ``x_shape``; float32 for a float32 dout (float32 in, float32 out), else float64.
            """
            dout = as_float_array(dout, "dout", 2, "(N, D)")
            if not isinstance(x_shape, (tuple, list)) or not all(
                    isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 0 for n in x_shape):
                raise TypeError(f"x_shape must be a tuple of non-negative ints, got {x_shape!r}")
            x_shape = tuple(int(n) for n in x_shape)
            if len(x_shape) < 2 or dout.shape != (x_shape[0], int(np.prod(x_shape[1:]))):
                raise ValueError(f"dout of shape {dout.shape} (N, D) does not flatten x_shape {x_shape} (N, ...)")
        ''', '''
        # Flatten only relabels the numbers: the gradient of each one goes back where it came from.
        dx = dout.reshape(x_shape)
        return dx
        '''),
    "softmax_cross_entropy_backward": ('''
        def softmax_cross_entropy_backward(z, y):
            """Gradient of the mean cross-entropy of ``softmax(z)`` and the labels ``y`` with respect to ``z``.

            Inputs:
            - z: logits ``(N, K)``
            - y: integer labels ``(N,)`` in ``[0, K)``

            Returns ``dz`` of shape ``(N, K)``: ``(softmax(z) - onehot(y)) / N``; float32 for a float32 z
            (float32 in, float32 out), else float64.
            """
            z = as_float_array(z, "z", 2, "(N, K)")
            y = as_array(y, "y", 1, "(N,)")
            n, k = z.shape
            if not np.issubdtype(y.dtype, np.integer):
                raise TypeError(f"y must hold integer class labels, got dtype {y.dtype} with shape {y.shape}")
            if n == 0 or k == 0 or y.shape != (n,):
                raise ValueError(f"y must have shape (N,) = ({n},) for z of shape {z.shape} (N >= 1, K >= 1), "
                                 f"got shape {y.shape}")
            if y.min() < 0 or y.max() >= k:
                raise ValueError(f"y must hold labels in [0, K) = [0, {k}) for z of shape {z.shape}, "
                                 f"got [{y.min()}, {y.max()}]")
            if np.isnan(z).any() or np.isposinf(z).any():
                raise ValueError(f"z must hold finite logits, got NaN or +inf in z of shape {z.shape}")
        ''', '''
        e = np.exp(z - z.max(axis=1, keepdims=True))   # shift each row by its maximum: exp never overflows
        p = e / e.sum(axis=1, keepdims=True)           # softmax, row by row
        dz = p.copy()
        dz[np.arange(n), y] -= 1                        # p - onehot(y)
        dz /= n                                         # the loss is a MEAN over the N samples
        return dz
        '''),
    "max_pool2d_backward": ('''
        def max_pool2d_backward(dout, x, size=2, stride=None):
            """Gradient of ``max_pool2d`` with respect to ``x``.

            Each window sends its upstream gradient to ONE element: its first maximum in row-major order. Where
            windows overlap (stride < size), an element collects the gradient of every window it wins.

            Inputs:
            - dout: upstream gradient ``(N, C, H', W')``
            - x: the forward input ``(N, C, H, W)``
            - size: window ``KH x KW``, an int or an ``(h, w)`` pair
            - stride: ``SH, SW``, an int or an ``(h, w)`` pair; defaults to ``size``

            Returns ``dx`` of shape ``(N, C, H, W)``; ``H' = (H - KH) // SH + 1``, ``W' = (W - KW) // SW + 1``;
            float32 when dout and x are both float32 (float32 in, float32 out), else float64
            (``np.zeros(shape)`` is float64: give it the dtype).
            """
            x, dout, (KH, KW), (SH, SW) = _pool_inputs(dout, x, size, stride)
        ''', '''
        N, C, Ho, Wo = dout.shape
        dx = np.zeros(x.shape, dtype=same_float_dtype(dout, x))
        n, c = np.ogrid[:N, :C]                          # broadcast indices over the batch and the channels
        for i in range(Ho):
            for j in range(Wo):
                window = x[:, :, i * SH:i * SH + KH, j * SW:j * SW + KW].reshape(N, C, KH * KW)
                first = window.argmax(axis=2)            # argmax returns the FIRST maximum: ties go to one element
                r, s = np.unravel_index(first, (KH, KW))
                dx[n, c, i * SH + r, j * SW + s] += dout[:, :, i, j]   # += : overlapping windows add up
        return dx
        '''),
    "avg_pool2d_backward": ('''
        def avg_pool2d_backward(dout, x, size=2, stride=None):
            """Gradient of ``avg_pool2d`` with respect to ``x``: each element of a window gets ``dout / (KH * KW)``.

            Inputs as ``max_pool2d_backward``: ``dout (N, C, H', W')``, ``x (N, C, H, W)``, ``size``, ``stride``.

            Returns ``dx`` of shape ``(N, C, H, W)``; float32 when dout and x are both float32
            (float32 in, float32 out), else float64.
            """
            x, dout, (KH, KW), (SH, SW) = _pool_inputs(dout, x, size, stride)
        ''', '''
        Ho, Wo = dout.shape[2:]
        dx = np.zeros(x.shape, dtype=same_float_dtype(dout, x))
        share = dout / (KH * KW)                         # every element counted 1/(KH*KW) in the mean
        for i in range(Ho):
            for j in range(Wo):
                dx[:, :, i * SH:i * SH + KH, j * SW:j * SW + KW] += share[:, :, i, j, None, None]
        return dx
        '''),
    "conv2d_backward": ('''
        def conv2d_backward(dout, x, w, stride=1, pad=0):
            """Gradients of the convolutional layer (cross-correlation) with respect to ``x``, ``w`` and ``b``.

            Inputs:
            - dout: upstream gradient ``(N, F, H', W')``
            - x: the forward input ``(N, C, H, W)``
            - w: the forward filters ``(F, C, KH, KW)``
            - stride: ``SH, SW``, an int or an ``(h, w)`` pair
            - pad: ``PH, PW`` zeros on each side, an int or an ``(h, w)`` pair

            Returns ``(dx, dw, db)`` of shapes ``(N, C, H, W)``, ``(F, C, KH, KW)``, ``(F,)``, each float32 when
            dout, x and w are all float32 (float32 in, float32 out), else float64; ``H' = (H + 2*PH - KH) // SH + 1``,
            ``W' = (W + 2*PW - KW) // SW + 1``.
            """
            x = as_float_array(x, "x", 4, "(N, C, H, W)")
            w = as_float_array(w, "w", 4, "(F, C, KH, KW)")
            dout = as_float_array(dout, "dout", 4, "(N, F, H', W')")
            (SH, SW), (PH, PW) = pair(stride, "stride"), pair(pad, "pad", allow_zero=True)
            N, C, H, W = x.shape
            F, _, KH, KW = w.shape
            if w.shape[1] != C:
                raise ValueError(f"w of shape {w.shape} has C={w.shape[1]} channels but x of shape {x.shape} has C={C}")
            if KH > H + 2 * PH or KW > W + 2 * PW:
                raise ValueError(f"kernel w of shape {w.shape} does not fit x of shape {x.shape} padded by {(PH, PW)}")
            Ho, Wo = (H + 2 * PH - KH) // SH + 1, (W + 2 * PW - KW) // SW + 1
            if dout.shape != (N, F, Ho, Wo):
                raise ValueError(f"dout must have shape (N, F, H', W') = {(N, F, Ho, Wo)} for x {x.shape}, w {w.shape}, "
                                 f"stride {(SH, SW)}, pad {(PH, PW)}; got shape {dout.shape}")
        ''', '''
        dtype = same_float_dtype(dout, x, w)
        dout, x, w = dout.astype(dtype), x.astype(dtype), w.astype(dtype)
        xp = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))    # the image the forward pass slid over
        dxp = np.zeros_like(xp)
        dw = np.zeros_like(w)
        for a in range(KH):                  # one filter tap (a, b) at a time: the slides' filter(x, y)
            for b in range(KW):
                rows = slice(a, a + SH * (Ho - 1) + 1, SH)     # the pixels tap (a, b) touched, one per window
                cols = slice(b, b + SW * (Wo - 1) + 1, SW)
                # dL/dfilter(a, b) = sum over windows (i, j) of dL/dout(i, j) * image(i + a, j + b)
                dw[:, :, a, b] = np.einsum("nfij,ncij->fc", dout, xp[:, :, rows, cols], optimize=True)
                # each window sends dout(i, j) * filter(a, b) back to the pixel that tap touched
                dxp[:, :, rows, cols] += np.einsum("nfij,fc->ncij", dout, w[:, :, a, b], optimize=True)
        db = dout.sum(axis=(0, 2, 3))        # the bias is added at every position of every image
        dx = dxp[:, :, PH:PH + H, PW:PW + W]  # the padding's gradient is dropped: those zeros were constants
        return dx, dw, db
        '''),
}

FUNCTIONS = tuple(_CELLS)

# Input checks shared by the two pooling backward passes (provided, like the helpers of reference._checks).
POOL_CHECKS = '''
def _pool_inputs(dout, x, size, stride):
    """Checked ``x (N, C, H, W)``, ``dout (N, C, H', W')``, window ``(KH, KW)`` and stride ``(SH, SW)``."""
    x = as_float_array(x, "x", 4, "(N, C, H, W)")
    dout = as_float_array(dout, "dout", 4, "(N, C, H', W')")
    KH, KW = pair(size, "size")
    SH, SW = pair(size if stride is None else stride, "stride")
    H, W = x.shape[2:]
    if KH > H or KW > W:
        raise ValueError(f"size ({KH}, {KW}) (KH, KW) does not fit in x of shape {x.shape} (N, C, H, W)")
    want = x.shape[:2] + ((H - KH) // SH + 1, (W - KW) // SW + 1)
    if dout.shape != want:
        raise ValueError(f"dout must have shape {want} (N, C, H', W') for x of shape {x.shape}, got shape {dout.shape}")
    return x, dout, (KH, KW), (SH, SW)
'''


def solutions() -> dict[str, nbformat.NotebookNode]:
    """``{function name: solution cell}`` in the notebook's order."""
    return {name: nb.solution_cell(name, header, body) for name, (header, body) in _CELLS.items()}


# The forward passes the demos' gradient checks differentiate: the student pastes their own from assignments 1-2.
# Compact versions without input checks (the student's own have them); a test compares them with the reference.
FORWARD_PASTE = {
    "conv2d_forward": ("def conv2d_forward(x, w, b, stride=1, pad=0):", "assignment 1: (N, C, H, W) -> (N, F, H', W')", '''
        (SH, SW), (PH, PW) = pair(stride, "stride"), pair(pad, "pad", allow_zero=True)
        xp = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)))
        windows = np.lib.stride_tricks.sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::SH, ::SW]
        out = np.tensordot(windows, w, axes=([1, 4, 5], [1, 2, 3]))   # (N, H', W', F)
        return out.transpose(0, 3, 1, 2) + b[:, None, None]
        '''),
    "relu": ("def relu(x):", "assignment 2: max(0, x) element-wise", '''
        return np.maximum(x, 0)
        '''),
    "max_pool2d": ("def max_pool2d(x, size=2, stride=None):", "assignment 2: (N, C, H, W) -> (N, C, H', W')", '''
        (KH, KW), (SH, SW) = pair(size, "size"), pair(size if stride is None else stride, "stride")
        windows = np.lib.stride_tricks.sliding_window_view(x, (KH, KW), axis=(2, 3))[:, :, ::SH, ::SW]
        return windows.max(axis=(4, 5))
        '''),
    "avg_pool2d": ("def avg_pool2d(x, size=2, stride=None):", "assignment 2: (N, C, H, W) -> (N, C, H', W')", '''
        (KH, KW), (SH, SW) = pair(size, "size"), pair(size if stride is None else stride, "stride")
        windows = np.lib.stride_tricks.sliding_window_view(x, (KH, KW), axis=(2, 3))[:, :, ::SH, ::SW]
        return windows.mean(axis=(4, 5))
        '''),
    "flatten": ("def flatten(x):", "assignment 2: (N, C, H, W) -> (N, C*H*W)", '''
        return x.reshape(x.shape[0], -1)
        '''),
    "dense_forward": ("def dense_forward(x, w, b):", "assignment 2: (N, D) @ (D, M) + (M,) -> (N, M)", '''
        return x @ w + b
        '''),
    "softmax": ("def softmax(z):", "assignment 2: (N, K) -> (N, K), rows sum to 1", '''
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
        '''),
    "cross_entropy": ("def cross_entropy(z, y):", "assignment 2: mean negative log-likelihood, a float", '''
        shifted = z - z.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return float(-np.mean(log_p[np.arange(z.shape[0]), y]))
        '''),
}


def paste_cell(grade_id: str, functions: dict, intro: str) -> nbformat.NotebookNode:
    """One solution cell holding several functions the student brings in from earlier assignments.

    ``functions`` maps a name to ``(header, body)``; each body becomes its own solution region, so the release
    keeps the signatures (and any input checks in the header) and each stub raises ``NotImplementedError``.
    """
    parts = [f"# {line}" for line in textwrap.dedent(intro).strip().splitlines()]
    for name, (header, body) in functions.items():
        parts += ["", "", nb.solution_cell(name, header, body).source]
    cell = nb.solution_cell("_", "def _():", "pass")  # the metadata of a solution cell, renamed below
    cell.source = "\n".join(parts).strip("\n")
    cell.metadata["nbgrader"]["grade_id"] = grade_id
    return cell


def forward_functions(names=None) -> dict:
    """``{name: (header, body)}`` of the compact forward passes (all, or those in ``names``)."""
    return {name: (f'{signature}\n    """Yours from {doc}."""', body)
            for name, (signature, doc, body) in FORWARD_PASTE.items() if names is None or name in names}


def backward_functions(names=None) -> dict:
    """``{name: (header, body)}`` of this notebook's graded functions, for a later notebook's paste cell."""
    return {name: cell for name, cell in _CELLS.items() if names is None or name in names}


def forward_paste_cell() -> nbformat.NotebookNode:
    return paste_cell("forward_passes", forward_functions(), """
        Paste your forward passes from assignments 1 and 2 below (replace each function with yours).
        They are not graded here: the demos below differentiate them numerically to check your backward passes.
        """)
