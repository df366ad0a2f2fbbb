"""Does reference.image turn RGB into ITU-R 601 luminance, and hold the slides' kernels, safely?"""
from __future__ import annotations

import numpy as np
import pytest

from reference.image import KERNELS, LUMA_WEIGHTS, rgb_to_grayscale

GRAY_ATOL = 1e-9         # float64 weighted sums of three values up to 255
GRAY_ATOL_F32 = 1e-4     # the same in float32 (eps 1.2e-7 times 255)

# 000 "RGB Values for Common Colors": (R, G, B) -> 0.299 R + 0.587 G + 0.114 B, worked out by hand.
SLIDE_COLOURS = [
    ((255, 0, 0), 76.245),
    ((0, 69, 100), 51.903),
    ((255, 255, 0), 225.93),
    ((0, 255, 0), 149.685),
    ((0, 0, 255), 29.07),
    ((153, 51, 255), 104.754),
    ((255, 255, 255), 255.0),
    ((0, 0, 0), 0.0),
]


@pytest.mark.parametrize("rgb, want", SLIDE_COLOURS)
def test_slide_colours_become_their_luminance(rgb, want):
    """000: is each colour of the slide's RGB table mapped to 0.299 R + 0.587 G + 0.114 B?"""
    img = np.array([[rgb]], dtype=np.uint8)
    got = rgb_to_grayscale(img)
    assert got.shape == (1, 1) and got.dtype == np.float64
    assert got[0, 0] == pytest.approx(want, abs=GRAY_ATOL)


@pytest.mark.parametrize("dtype, want, atol", [
    (np.uint8, np.float64, GRAY_ATOL), (np.int64, np.float64, GRAY_ATOL), (np.float64, np.float64, GRAY_ATOL),
    (np.float32, np.float32, GRAY_ATOL_F32),
])
def test_grayscale_of_a_random_image_matches_the_weighted_sum(dtype, want, atol, rng):
    """For an (H, W, 3) image of any dtype: shape (H, W), float32 only for float32 input, the 601 weights?"""
    img = (rng.random((4, 7, 3)) * 255).astype(dtype)
    got = rgb_to_grayscale(img)
    expected = sum(weight * img[..., k].astype(np.float64) for k, weight in enumerate(LUMA_WEIGHTS))
    assert got.shape == (4, 7) and got.dtype == want
    np.testing.assert_allclose(got, expected, rtol=0, atol=atol)


def test_gray_pixels_keep_their_value():
    """Do the weights sum to 1, so that (v, v, v) becomes v?"""
    img = np.repeat(np.arange(0, 256, 15, dtype=np.uint8)[:, None, None], 3, axis=2)
    np.testing.assert_allclose(rgb_to_grayscale(img)[:, 0], np.arange(0, 256, 15), atol=GRAY_ATOL)


@pytest.mark.parametrize("img, error, pattern", [
    (np.zeros((4, 4)), ValueError, r"img must have 3 dimensions \(H, W, 3\), got shape \(4, 4\)"),
    (np.zeros((4, 4, 4)), ValueError, r"img must have shape \(H, W, 3\) .*got shape \(4, 4, 4\)"),
    (np.zeros((3, 4, 4, 3)), ValueError, r"img must have 3 dimensions .*got shape \(3, 4, 4, 3\)"),
    ("picture.png", TypeError, r"img must be a NumPy array, got str"),
])
def test_bad_image_raises_an_error_naming_img_and_its_shape(img, error, pattern):
    """Does a wrong image say that img is wrong and what shape it had?"""
    with pytest.raises(error, match=pattern):
        rgb_to_grayscale(img)


# Each named kernel as printed on its slide.
SLIDE_KERNELS = [
    ("identity", "001 filter table", [[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    ("edge_diagonal", "001 filter table, edge detection 1", [[1, 0, -1], [0, 0, 0], [-1, 0, 1]]),
    ("edge_cross", "001 filter table, edge detection 2", [[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    ("edge_all", "001 filter table, edge detection 3", [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
    ("sharpen", "001 filter table / 002", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    ("box_blur", "001 filter table / 003 blur", np.full((3, 3), 1 / 9)),
    ("gaussian_blur", "001 filter table", np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16),
    ("emboss", "002 / 004", [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
    ("sobel_x", "002 left sobel", [[1, 0, -1], [2, 0, -2], [1, 0, -1]]),
    ("sobel_y", "002 top sobel", [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]),
    ("laplacian", "002 Laplacian", [[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    ("outline", "002 outline / 003 edge detection", [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
    ("horizontal_lines", "003 line detection", [[-1, -1, -1], [2, 2, 2], [-1, -1, -1]]),
    ("vertical_lines", "transpose of 003 horizontal lines", [[-1, 2, -1], [-1, 2, -1], [-1, 2, -1]]),
]


def test_kernels_has_exactly_the_slides_kernels():
    """Is every curriculum kernel present, and nothing else?"""
    assert sorted(KERNELS) == sorted(name for name, _, _ in SLIDE_KERNELS)


@pytest.mark.parametrize("name, source, want", SLIDE_KERNELS, ids=[row[0] for row in SLIDE_KERNELS])
def test_kernel_matches_its_slide(name, source, want):
    """Is the kernel float64, 3x3 and equal to the slide's?"""
    k = KERNELS[name]
    assert k.shape == (3, 3) and k.dtype == np.float64, source
    np.testing.assert_allclose(k, np.asarray(want, float), rtol=0, atol=1e-15, err_msg=source)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernels_cannot_be_corrupted_by_a_caller(name):
    """Does writing into a shared kernel fail, while a copy can be changed?"""
    with pytest.raises(ValueError, match="read-only"):
        KERNELS[name][1, 1] = 99.0
    k = KERNELS[name].copy()
    k[1, 1] = 99.0
    assert KERNELS[name][1, 1] != 99.0


@pytest.mark.parametrize("name, total", [("identity", 1), ("box_blur", 1), ("gaussian_blur", 1), ("sharpen", 1),
                                         ("emboss", 1), ("laplacian", 0), ("outline", 0), ("sobel_x", 0),
                                         ("sobel_y", 0), ("horizontal_lines", 0), ("edge_diagonal", 0)])
def test_kernel_response_to_a_flat_image(name, total):
    """Blurs and sharpen keep a flat image's brightness (sum 1); edge and line detectors give 0 on it (sum 0)."""
    assert KERNELS[name].sum() == pytest.approx(total, abs=1e-12)
