"""Images as numbers: RGB to grayscale, and the slides' named 3x3 kernels.

Shape letters: see the glossary in :mod:`reference._checks` (H, W; KH = KW = 3 for every kernel here).
"""
from __future__ import annotations

import numpy as np

from reference._checks import as_array

__all__ = ["LUMA_WEIGHTS", "KERNELS", "rgb_to_grayscale"]

LUMA_WEIGHTS = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma weights of R, G, B (they sum to 1, so gray pixels keep their value)."""


def rgb_to_grayscale(img):
    """Luminance of an RGB image: ``0.299 R + 0.587 G + 0.114 B``, on the input's scale (0..255 stays 0..255).

    Inputs:
    - img: array of shape (H, W, 3), uint8 (or any integer/bool) or float, channels in R, G, B order

    Returns:
    - gray: array of shape (H, W); float32 for float32 input, float64 otherwise
    """
    img = as_array(img, "img", 3, "(H, W, 3)")
    if img.shape[2] != 3:
        raise ValueError(f"img must have shape (H, W, 3) with 3 channels R, G, B, got shape {img.shape}")
    dtype = np.float32 if img.dtype == np.float32 else np.float64

    gray = img.astype(dtype, copy=False) @ np.asarray(LUMA_WEIGHTS, dtype=dtype)

    return gray


def _kernel(rows, scale=1.0) -> np.ndarray:
    """A read-only float64 kernel: a caller that writes into ``KERNELS[...]`` gets an error, not a corrupted dict."""
    k = np.asarray(rows, dtype=np.float64) * scale
    k.flags.writeable = False
    return k


_EDGE_CROSS = [[0, 1, 0], [1, -4, 1], [0, 1, 0]]
_EDGE_ALL = [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]
_HORIZONTAL_LINES = [[-1, -1, -1], [2, 2, 2], [-1, -1, -1]]

KERNELS = {
    # 001 "Various convolution image after applying different types of filters" table.
    "identity": _kernel([[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    # The table's three "Edge detection" rows, named by which neighbours they compare with the centre:
    # the four diagonal corners, the four edge-sharing neighbours (a Laplacian), all eight neighbours (outline).
    "edge_diagonal": _kernel([[1, 0, -1], [0, 0, 0], [-1, 0, 1]]),
    "edge_cross": _kernel(_EDGE_CROSS),
    "edge_all": _kernel(_EDGE_ALL),
    "sharpen": _kernel([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "box_blur": _kernel(np.ones((3, 3)), 1 / 9),
    "gaussian_blur": _kernel([[1, 2, 1], [2, 4, 2], [1, 2, 1]], 1 / 16),
    # 002 "Convolution Filters" (and 004's setosa emboss example).
    "emboss": _kernel([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
    "sobel_x": _kernel([[1, 0, -1], [2, 0, -2], [1, 0, -1]]),    # "left sobel": responds to vertical edges
    "sobel_y": _kernel([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]),    # "top sobel": responds to horizontal edges
    "laplacian": _kernel(_EDGE_CROSS),
    "outline": _kernel(_EDGE_ALL),
    # 003 "Line Detection".
    "horizontal_lines": _kernel(_HORIZONTAL_LINES),
    "vertical_lines": _kernel(np.transpose(_HORIZONTAL_LINES)),
}
"""The slides' named 3x3 kernels, float64 arrays of shape (KH, KW) = (3, 3). The arrays are read-only, so a
caller cannot corrupt the shared table by accident: ``KERNELS["sharpen"].copy()`` gives one to change."""
