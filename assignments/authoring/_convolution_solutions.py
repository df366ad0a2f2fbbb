"""The student functions of the ``convolution`` notebook: header (signature, shape contract, input checks) and the
solution that nbgrader replaces with a stub. The checks call the helpers of the setup cell (copied from
:mod:`reference._checks`), so a stub raises the reference's errors for bad input.

These solutions are short, readable NumPy (loops over the kernel taps, never over pixels);
tests/assignments/test_notebooks.py grades them against the live reference on every case.
"""
from __future__ import annotations

from assignments.authoring.nb import solution_cell

__all__ = ["solutions"]


def solutions() -> dict:
    """``{function: solution cell}`` of the convolution notebook."""
    cells = [
        solution_cell("rgb_to_grayscale", '''
            def rgb_to_grayscale(img):
                """Luminance of an RGB image, 0.299 R + 0.587 G + 0.114 B, on the input's scale.

                Inputs:
                - img: (H, W, 3), uint8 (0..255) or float, channels in R, G, B order

                Returns:
                - gray: (H, W); float32 for a float32 img (float32 in, float32 out), float64 for any other img
                """
                img = as_array(img, "img", 3, "(H, W, 3)")
                if img.shape[2] != 3:
                    raise ValueError(f"img must have shape (H, W, 3) with 3 channels R, G, B, got shape {img.shape}")
            ''', '''
            dtype = np.float32 if img.dtype == np.float32 else np.float64
            weights = np.array([0.299, 0.587, 0.114], dtype=dtype)
            return img.astype(dtype) @ weights
            '''),
        solution_cell("output_size", '''
            def output_size(n, k, stride=1, pad=0):
                """Length of the output along one axis: (n + 2*pad - k) // stride + 1.

                Inputs:
                - n: input length (H or W), int > 0
                - k: kernel length (KH or KW), int > 0
                - stride: step between windows (SH or SW), int > 0
                - pad: zeros added on each side (PH or PW), int >= 0

                Returns:
                - the output length (H' or W'), an int >= 1
                Raises ValueError when the kernel does not fit the padded input (k > n + 2*pad).
                """
                n, k = positive_int(n, "n"), positive_int(k, "k")
                stride, pad = positive_int(stride, "stride"), positive_int(pad, "pad", allow_zero=True)
            ''', '''
            if k > n + 2 * pad:
                raise ValueError(f"kernel of size k={k} does not fit input of size n={n} with pad={pad}")
            return (n + 2 * pad - k) // stride + 1
            '''),
        solution_cell("zero_pad", '''
            def zero_pad(x, pad):
                """Zeros added on both sides of the last two axes.

                Inputs:
                - x: (..., H, W), at least 2 dimensions: an image (H, W), a batch (N, C, H, W), ...
                - pad: int P or pair (PH, PW) >= 0: rows added at top and bottom, columns at left and right

                Returns:
                - xp: (..., H + 2*PH, W + 2*PW), the dtype of x (float32 in, float32 out), with x in the middle
                """
                x = as_array(x, "x")
                if x.ndim < 2:
                    raise ValueError(f"x must have at least 2 dimensions (..., H, W), got shape {x.shape}")
                ph, pw = pair(pad, "pad", allow_zero=True)
            ''', '''
            *lead, h, w = x.shape
            xp = np.zeros((*lead, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
            xp[..., ph:ph + h, pw:pw + w] = x
            return xp
            '''),
        solution_cell("correlate2d", '''
            def correlate2d(image, kernel, stride=1, pad=0):
                """Single-channel cross-correlation: slide the kernel, multiply and sum (no flip).

                out[y, x] = sum over i, j of padded[y*SH + i, x*SW + j] * kernel[i, j]

                Inputs:
                - image: (H, W)
                - kernel: (KH, KW)
                - stride: int or pair (SH, SW) > 0
                - pad: int or pair (PH, PW) >= 0, or "valid" (no zeros), "same" (output H x W, stride 1 only;
                  an even kernel gets its extra zero row/column at the bottom/right) or "full" (KH-1, KW-1 zeros
                  on every side)

                Returns:
                - out: (H', W'), H' = (H + top + bottom - KH) // SH + 1 (likewise W'); float32 when image and
                  kernel are both float32 (float32 in, float32 out), else float64
                """
                image = as_float_array(image, "image", 2, "(H, W)")
                kernel = as_float_array(kernel, "kernel", 2, "(KH, KW)")
                sh, sw = pair(stride, "stride")
                if isinstance(pad, str) and pad not in ("valid", "same", "full"):
                    raise ValueError(f"pad must be an int, an (h, w) pair or 'valid', 'same', 'full', got {pad!r}")
                if pad == "same" and (sh, sw) != (1, 1):
                    raise ValueError(f"pad='same' needs stride 1, got stride {stride}")
                if not isinstance(pad, str):
                    pair(pad, "pad", allow_zero=True)
            ''', '''
            dtype = same_float_dtype(image, kernel)
            kh, kw = kernel.shape
            if pad == "same":  # (K - 1) zeros in all, the odd one at the bottom/right
                padded = np.pad(image, (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)))
            elif pad == "full":
                padded = zero_pad(image, (kh - 1, kw - 1))
            else:
                padded = zero_pad(image, 0 if pad == "valid" else pad)
            padded = padded.astype(dtype)
            ho = output_size(padded.shape[0], kh, sh)
            wo = output_size(padded.shape[1], kw, sw)
            out = np.zeros((ho, wo), dtype=dtype)
            for i in range(kh):  # kernel tap (i, j) meets the same strided slice of pixels in every window
                for j in range(kw):
                    out += kernel[i, j] * padded[i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]
            return out
            '''),
        solution_cell("convolve2d", '''
            def convolve2d(image, kernel, stride=1, pad=0):
                """True convolution: the kernel flipped in both axes (turned 180 degrees), then correlate2d.

                Inputs and returns as correlate2d: image (H, W), kernel (KH, KW) -> out (H', W'), float32 when
                image and kernel are both float32 (float32 in, float32 out), else float64.
                """
                kernel = as_float_array(kernel, "kernel", 2, "(KH, KW)")
            ''', '''
            return correlate2d(image, kernel[::-1, ::-1], stride=stride, pad=pad)
            '''),
        solution_cell("conv2d_forward", '''
            def conv2d_forward(x, w, b, stride=1, pad=0):
                """Convolution layer forward pass (cross-correlation, like torch.nn.functional.conv2d).

                out[n, f, y, x] = b[f] + sum over c, i, j of padded[n, c, y*SH + i, x*SW + j] * w[f, c, i, j]

                Inputs:
                - x: input (N, C, H, W)
                - w: filters (F, C, KH, KW)
                - b: biases (F,)
                - stride: int or pair (SH, SW) > 0
                - pad: int or pair (PH, PW) >= 0, zeros on each side of H and W

                Returns:
                - out: (N, F, H', W'), H' = (H + 2*PH - KH) // SH + 1, W' = (W + 2*PW - KW) // SW + 1;
                  float32 when x, w and b are all float32 (float32 in, float32 out), else float64
                  (np.zeros(shape) is float64: give it the dtype)
                """
                x = as_float_array(x, "x", 4, "(N, C, H, W)")
                w = as_float_array(w, "w", 4, "(F, C, KH, KW)")
                b = as_float_array(b, "b", 1, "(F,)")
                if w.shape[1] != x.shape[1]:
                    raise ValueError(f"w of shape {w.shape} has C={w.shape[1]} channels but x of shape {x.shape} has C={x.shape[1]}")
                if b.shape[0] != w.shape[0]:
                    raise ValueError(f"b of shape {b.shape} must have F={w.shape[0]} entries, one per filter of w {w.shape}")
                sh, sw = pair(stride, "stride")
                ph, pw = pair(pad, "pad", allow_zero=True)
                if w.shape[2] > x.shape[2] + 2 * ph or w.shape[3] > x.shape[3] + 2 * pw:
                    raise ValueError(f"kernel w of shape {w.shape} does not fit x of shape {x.shape} padded by ({ph}, {pw})")
            ''', '''
            dtype = same_float_dtype(x, w, b)
            xp = zero_pad(x, (ph, pw)).astype(dtype)
            n, f, (kh, kw) = x.shape[0], w.shape[0], w.shape[2:]
            ho = output_size(xp.shape[2], kh, sh)
            wo = output_size(xp.shape[3], kw, sw)
            out = np.zeros((n, f, ho, wo), dtype=dtype)
            for i in range(kh):
                for j in range(kw):
                    patch = xp[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]  # (N, C, H', W')
                    out += np.einsum("nchw,fc->nfhw", patch, w[:, :, i, j].astype(dtype), optimize=True)
            out += b.astype(dtype)[None, :, None, None]
            return out
            '''),
        solution_cell("receptive_field", '''
            def receptive_field(kernel_sizes, strides):
                """Side of the input window that one output of a stack of layers sees:
                r = 1 + sum over i of (k_i - 1) * (s_0 * ... * s_(i-1)).

                Inputs:
                - kernel_sizes: sequence (list, tuple or 1-D array) of L ints > 0, the kernel side of each layer,
                  the first layer first (a pooling layer: its window side)
                - strides: sequence of L ints > 0, the stride of each layer

                Returns:
                - r: an int >= 1 (1 for an empty stack: the pixel itself)
                """
                for name, v in (("kernel_sizes", kernel_sizes), ("strides", strides)):
                    if isinstance(v, np.ndarray) and v.ndim != 1:
                        raise ValueError(f"{name} must be a sequence of ints, one per layer, got an array of shape {v.shape}")
                    if not isinstance(v, (list, tuple, np.ndarray)):
                        raise TypeError(f"{name} must be a sequence of ints (a list or tuple), one per layer, got {type(v).__name__}")
                ks = [positive_int(k, f"kernel_sizes[{i}]") for i, k in enumerate(kernel_sizes)]
                ss = [positive_int(s, f"strides[{i}]") for i, s in enumerate(strides)]
                if len(ks) != len(ss):
                    raise ValueError(f"kernel_sizes and strides must have one entry per layer, got {len(ks)} kernel sizes and {len(ss)} strides")
            ''', '''
            r = 1
            jump = 1  # how many input pixels apart neighbouring values of the current layer's input lie
            for k, s in zip(ks, ss):
                r += (k - 1) * jump
                jump *= s
            return r
            '''),
        solution_cell("diagonal_edge_kernel", '''
            def diagonal_edge_kernel():
                """A 3x3 kernel answering an edge along the main diagonal (top-left to bottom-right corner), dark
                below-left and bright above-right, with a large positive response; little to that edge with its
                colours swapped, to the other diagonal, to horizontal or vertical edges; nothing to flat regions.

                Returns:
                - kernel: (KH, KW) = (3, 3), float
                """
            ''', '''
            # sobel_x turned by 45 degrees: the top-right corner weighed against the bottom-left one, so an edge
            # with its bright side above-right answers positively. Zero sum: flat regions give 0; the other diagonal
            # gives 0 (the kernel is antisymmetric about it), straight edges 3/4 of the diagonal response.
            return np.array([[0.0, 1.0, 2.0],
                             [-1.0, 0.0, 1.0],
                             [-2.0, -1.0, 0.0]])
            '''),
    ]
    return {c.metadata["nbgrader"]["grade_id"][:-len("_solution")]: c for c in cells}
