"""Does reference.conv reproduce the slides, reject bad input clearly, keep dtypes, and have correct gradients?

The PyTorch cross-check grid lives in test_conv_torch.py.
"""
from __future__ import annotations

import numpy as np
import pytest

from reference import _conv_impl
from reference.conv import conv2d_backward, conv2d_forward, convolve2d, correlate2d, output_size, zero_pad

EXAMPLE_ATOL = 1e-12          # slide examples are small integer or 1-decimal sums: exact up to float rounding
GRADCHECK_STEP = 1e-6         # central-difference step in float64
GRADCHECK_RTOL = 1e-6         # central differences are exact for a bilinear function up to rounding ~ eps/h
GRADCHECK_ATOL = 1e-8

# Images of the slides.
RAMP_3X3 = np.arange(9.0).reshape(3, 3)                                     # 000 "What is a Convolution?"
STRIPE_5X5 = np.tile([0, 255, 255, 255, 0], (5, 1))                        # 000 vertical-edge walk-through
CROSS_5X5 = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1],   # 001 "Convolution"
                      [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]])
BINARY_5X5 = np.array([[0, 1, 1, 0, 0], [0, 1, 1, 0, 0], [1, 0, 0, 1, 1],  # 002 "How does convolution work?"
                       [0, 1, 1, 0, 1], [1, 1, 1, 1, 1]])
DIGIT_6X6 = np.array([[0, 0, 0, 0, 0, 0], [0.2, 0.8, 0, 0.3, 0.6, 0],     # 003 "Representing Images"
                      [0.2, 0.9, 0, 0.3, 0.8, 0], [0.3, 0.8, 0.7, 0.8, 0.9, 0],
                      [0, 0, 0, 0.2, 0.8, 0], [0, 0, 0, 0.2, 0.2, 0]])
PATCH_3X3 = np.array([[162, 125, 108], [177, 127, 98], [191, 135, 80]])     # 004 setosa emboss example
BACKPROP_3X3 = np.array([[0, 7, 0], [0, 80, 31], [33, 14, 0]])              # 001 "Backpropagation / Conv layer"

VERTICAL_EDGE = np.array([[1, 0, -1]] * 3)
X_KERNEL = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]])
SHARPEN = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
IDENTITY = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]])

# (id, slide source, function, args, kwargs, expected).
# 001's 'Valid Padding' 4x4 image ([[0,50,0,29],...] -> 29 top-left) is not a row: the slide's kernel is only a
# picture, and no kernel/stride can be read from the text, so the value cannot be derived.
SLIDE_EXAMPLES = [
    ("ramp-2x2-kernel", "000 What is a Convolution?", correlate2d, (RAMP_3X3, [[0, 1], [2, 3]]), {},
     [[19, 25], [37, 43]]),
    ("vertical-edge", "000 Why is that? Let's take a closer look", correlate2d, (STRIPE_5X5, VERTICAL_EDGE), {},
     [[-765, 0, 765]] * 3),
    # The slide shows only the first value, 4; the rest of the map is the reference's, checked by hand:
    # e.g. row 1, column 0 = x[1,0] + x[1,2] + x[2,1] + x[3,0] + x[3,2] = 0 + 1 + 0 + 0 + 1 = 2.
    ("cross-x-kernel", "001 Convolution", correlate2d, (CROSS_5X5, X_KERNEL), {},
     [[4, 3, 4], [2, 4, 3], [2, 3, 4]]),
    ("sharpen-valid", "002 How does convolution work?", correlate2d, (BINARY_5X5, SHARPEN), {},
     [[3, 3, -2], [-3, -3, 4], [3, 3, -4]]),
    ("sharpen-pad1", "002 Padding & Stride (+ padding)", correlate2d, (BINARY_5X5, SHARPEN), {"pad": 1},
     [[-1, 3, 3, -1, 0], [-2, 3, 3, -2, -1], [5, -3, -3, 4, 3], [-3, 3, 3, -4, 3], [4, 2, 2, 3, 3]]),
    ("sharpen-pad1-stride2", "002 Padding & Stride (stride = 2)", correlate2d, (BINARY_5X5, SHARPEN),
     {"pad": 1, "stride": 2}, [[-1, 3, 0], [5, -3, 3], [4, 2, 3]]),
    ("digit-6x6", "003 Representing Images / Matrix", correlate2d, (DIGIT_6X6, X_KERNEL), {},
     [[1.0, 1.2, 1.1, 0.9], [2.1, 2.7, 2.5, 1.9], [1.0, 2.1, 2.4, 1.4], [1.0, 1.8, 2.0, 1.8]]),
    # The slide's arithmetic is right: -324 - 125 + 0 - 177 + 127 + 98 + 0 + 135 + 160 = -106.
    ("emboss-patch", "004 Extract Features / Convolution", correlate2d, (PATCH_3X3, EMBOSS), {}, [[-106]]),
    ("identity-backprop", "001 Backpropagation / Conv layer", correlate2d, (BACKPROP_3X3, IDENTITY), {}, [[80]]),
]

# Slide values that are wrong (CURRICULUM.md errata): (id, index into the map, value printed on the slide).
SLIDE_ERRATA = [
    # 002 padded sharpen: bottom-left is 5*1 - 0 (above) - 1 (right) = 4; the slide prints 5.
    ("sharpen-pad1", (4, 0), 5),
    # 002 padded, strided sharpen: the same pixel, so the same erratum.
    ("sharpen-pad1-stride2", (2, 0), 5),
    # 003 6x6 digit: second row starts 0.2 + 0.9 + 0.3 + 0.7 + 0 = 2.1; the slide prints 1.9.
    ("digit-6x6", (1, 0), 1.9),
]


def _example(example_id):
    return next(row for row in SLIDE_EXAMPLES if row[0] == example_id)


@pytest.mark.parametrize("example_id, source, fn, args, kwargs, expected", SLIDE_EXAMPLES,
                         ids=[row[0] for row in SLIDE_EXAMPLES])
def test_slide_example_is_reproduced(example_id, source, fn, args, kwargs, expected):
    """Does the reference give the (corrected) result of this slide's worked example?"""
    got = fn(*args, **kwargs)
    np.testing.assert_allclose(got, np.asarray(expected, float), rtol=0, atol=EXAMPLE_ATOL,
                               err_msg=f"{example_id} ({source})")


@pytest.mark.parametrize("example_id, index, printed", SLIDE_ERRATA, ids=[row[0] for row in SLIDE_ERRATA])
def test_slide_erratum_differs_from_the_reference(example_id, index, printed):
    """Is the value the slide prints really wrong (so the test above asserts the corrected one)?"""
    _, _, fn, args, kwargs, expected = _example(example_id)
    got = fn(*args, **kwargs)[index]
    assert abs(got - printed) > 0.1, f"{example_id}: slide prints {printed}, reference gives {got}"
    assert abs(got - np.asarray(expected, float)[index]) < EXAMPLE_ATOL


def test_flip_first_convolution_is_correlation_with_the_flipped_kernel():
    """002 'Flip first': does convolving with 1..9 equal correlating with 9..1, and differ from plain correlation?"""
    kernel = np.arange(1, 10).reshape(3, 3)
    flipped = [[9, 8, 7], [6, 5, 4], [3, 2, 1]]
    conv = convolve2d(BINARY_5X5, kernel)
    np.testing.assert_allclose(conv, correlate2d(BINARY_5X5, flipped), atol=EXAMPLE_ATOL)
    # Top-left by hand: [[0,1,1],[0,1,1],[1,0,0]] . [[9,8,7],[6,5,4],[3,2,1]] = 8 + 7 + 5 + 4 + 3 = 27.
    assert conv[0, 0] == pytest.approx(27, abs=EXAMPLE_ATOL)
    assert not np.allclose(conv, correlate2d(BINARY_5X5, kernel)), "without the flip it is 2-D correlation"


# --- zero_pad and output_size ---------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, pad, want", [
    ((3, 4), 1, (5, 6)),
    ((3, 4), (1, 2), (5, 8)),
    ((2, 3, 4), 2, (2, 7, 8)),
    ((2, 1, 3, 4), (0, 1), (2, 1, 3, 6)),
    ((3, 4), 0, (3, 4)),
])
def test_zero_pad_adds_zeros_on_both_sides_of_the_last_two_axes(shape, pad, want):
    """Is x in the middle, zeros around it, and the lead axes untouched?"""
    x = np.arange(1, np.prod(shape) + 1, dtype=np.float32).reshape(shape)
    got = zero_pad(x, pad)
    ph, pw = (pad, pad) if isinstance(pad, int) else pad
    assert got.shape == want and got.dtype == x.dtype
    np.testing.assert_array_equal(got[..., ph:ph + shape[-2], pw:pw + shape[-1]], x)
    assert got.sum() == x.sum(), "everything outside x must be zero"


@pytest.mark.parametrize("n, k, stride, pad, want", [
    (5, 3, 1, 0, 3), (5, 3, 1, 1, 5), (5, 3, 2, 1, 3), (7, 3, 2, 0, 3), (28, 5, 1, 2, 28), (3, 3, 1, 0, 1),
    (6, 2, 3, 0, 2), (1, 3, 1, 1, 1),
])
def test_output_size_formula(n, k, stride, pad, want):
    """Is the output length (n + 2*pad - k) // stride + 1?"""
    assert output_size(n, k, stride, pad) == want


# --- input validation -----------------------------------------------------------------------------------------

X4 = np.zeros((2, 3, 5, 5))
W4 = np.zeros((4, 3, 3, 3))
B4 = np.zeros(4)
BAD_INPUTS = [
    # (id, function, args, kwargs, error, message pattern)
    ("pad-1d", zero_pad, (np.zeros(5), 1), {}, ValueError, r"x must have at least 2 dimensions.*\(5,\)"),
    ("pad-negative", zero_pad, (np.zeros((2, 2)), -1), {}, ValueError, r"pad must be >= 0, got -1"),
    ("pad-list", zero_pad, ([[1, 2]], 1.5), {}, TypeError, r"pad must be an int"),
    ("pad-not-array", zero_pad, ("abc", 1), {}, TypeError, r"x must be a NumPy array"),
    ("size-no-fit", output_size, (3, 5), {}, ValueError, r"k=5 does not fit .*n=3"),
    ("size-stride-0", output_size, (5, 3, 0), {}, ValueError, r"stride must be > 0"),
    ("size-float", output_size, (5.0, 3), {}, TypeError, r"n must be an int"),
    ("corr-3d-image", correlate2d, (np.zeros((1, 5, 5)), np.ones((3, 3))), {}, ValueError,
     r"image must have 2 dimensions \(H, W\), got shape \(1, 5, 5\)"),
    ("corr-1d-kernel", correlate2d, (np.zeros((5, 5)), np.ones(3)), {}, ValueError,
     r"kernel must have 2 dimensions \(KH, KW\), got shape \(3,\)"),
    ("corr-too-big", correlate2d, (np.zeros((2, 5)), np.ones((3, 3))), {}, ValueError,
     r"kernel of shape \(3, 3\) does not fit image of shape \(2, 5\)"),
    ("corr-bad-mode", correlate2d, (np.zeros((5, 5)), np.ones((3, 3))), {"pad": "wide"}, ValueError,
     r"pad must be .*'valid', 'same', 'full'.*'wide'"),
    ("corr-same-stride", correlate2d, (np.zeros((5, 5)), np.ones((3, 3))), {"pad": "same", "stride": 2},
     ValueError, r"pad='same' needs stride 1, got stride \(2, 2\)"),
    ("corr-strings", correlate2d, (np.array(["a"] * 4).reshape(2, 2), np.ones((1, 1))), {}, TypeError,
     r"image must hold real numbers"),
    ("conv-flip-3d", convolve2d, (np.zeros((5, 5)), np.ones((1, 3, 3))), {}, ValueError,
     r"kernel must have 2 dimensions \(KH, KW\), got shape \(1, 3, 3\)"),
    ("fwd-x-3d", conv2d_forward, (np.zeros((3, 5, 5)), W4, B4), {}, ValueError,
     r"x must have 4 dimensions \(N, C, H, W\), got shape \(3, 5, 5\)"),
    ("fwd-w-3d", conv2d_forward, (X4, np.zeros((4, 3, 3)), B4), {}, ValueError,
     r"w must have 4 dimensions \(F, C, KH, KW\), got shape \(4, 3, 3\)"),
    ("fwd-channels", conv2d_forward, (X4, np.zeros((4, 2, 3, 3)), B4), {}, ValueError,
     r"w of shape \(4, 2, 3, 3\) has C=2 channels but x of shape \(2, 3, 5, 5\) has C=3"),
    ("fwd-bias-len", conv2d_forward, (X4, W4, np.zeros(3)), {}, ValueError,
     r"b of shape \(3,\) must have F=4 entries"),
    ("fwd-bias-2d", conv2d_forward, (X4, W4, np.zeros((4, 1))), {}, ValueError,
     r"b must have 1 dimensions \(F,\), got shape \(4, 1\)"),
    ("fwd-no-fit", conv2d_forward, (X4, np.zeros((4, 3, 7, 3)), B4), {}, ValueError,
     r"kernel w of shape \(4, 3, 7, 3\) .*does not fit x of shape \(2, 3, 5, 5\)"),
    ("fwd-stride-0", conv2d_forward, (X4, W4, B4), {"stride": (1, 0)}, ValueError, r"stride\[1\] must be > 0"),
    ("fwd-pad-triple", conv2d_forward, (X4, W4, B4), {"pad": (1, 1, 1)}, ValueError,
     r"pad must be an int or an \(h, w\) pair"),
    ("fwd-x-none", conv2d_forward, (None, W4, B4), {}, TypeError, r"x must be a NumPy array, got NoneType"),
    ("fwd-complex", conv2d_forward, (X4 + 1j, W4, B4), {}, TypeError, r"x must hold real numbers"),
    ("bwd-dout-shape", conv2d_backward, (np.zeros((2, 4, 4, 4)), X4, W4), {}, ValueError,
     r"dout must have shape \(N, F, H', W'\) = \(2, 4, 3, 3\).*got shape \(2, 4, 4, 4\)"),
    ("bwd-dout-3d", conv2d_backward, (np.zeros((4, 3, 3)), X4, W4), {}, ValueError,
     r"dout must have 4 dimensions \(N, F, H', W'\), got shape \(4, 3, 3\)"),
    ("bwd-channels", conv2d_backward, (np.zeros((2, 4, 3, 3)), X4, np.zeros((4, 1, 3, 3))), {}, ValueError,
     r"w of shape \(4, 1, 3, 3\) has C=1 channels"),
]


@pytest.mark.parametrize("case_id, fn, args, kwargs, error, pattern", BAD_INPUTS, ids=[r[0] for r in BAD_INPUTS])
def test_bad_input_raises_an_error_naming_argument_and_shape(case_id, fn, args, kwargs, error, pattern):
    """Does a bad argument raise ValueError/TypeError that says which argument and what shape?"""
    with pytest.raises(error, match=pattern):
        fn(*args, **kwargs)


# --- dtypes ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtypes, want", [
    ((np.float32, np.float32, np.float32), np.float32),
    ((np.float32, np.float64, np.float32), np.float64),
    ((np.float64, np.float32, np.float32), np.float64),
    ((np.int64, np.int64, np.int64), np.float64),
    ((np.uint8, np.float32, np.float32), np.float64),
])
def test_layer_dtype_follows_the_inputs(dtypes, want, rng):
    """float32 in -> float32 out; any float64 or integer input -> float64 (forward and backward)."""
    x = (rng.random((2, 2, 6, 5)) * 9).astype(dtypes[0])
    w = (rng.random((3, 2, 3, 2)) * 9).astype(dtypes[1])
    b = (rng.random(3) * 9).astype(dtypes[2])
    out = conv2d_forward(x, w, b, stride=(1, 2), pad=1)
    assert out.dtype == want
    dx, dw, db = conv2d_backward(np.ones(out.shape, dtypes[0]), x, w, stride=(1, 2), pad=1)
    assert (dx.dtype, dw.dtype, db.dtype) == (want, want, want)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape


@pytest.mark.parametrize("image_dtype, kernel_dtype, want", [
    (np.float32, np.float32, np.float32), (np.uint8, np.float32, np.float64), (np.float32, np.float64, np.float64),
    (np.uint8, np.int64, np.float64),
])
def test_correlate2d_dtype_follows_the_inputs(image_dtype, kernel_dtype, want):
    """float32 only when both are float32; integers (a uint8 image too) compute in float64."""
    image = np.arange(20).reshape(4, 5).astype(image_dtype)
    assert correlate2d(image, np.ones((2, 2), kernel_dtype), pad="same").dtype == want
    assert convolve2d(image, np.ones((2, 2), kernel_dtype)).dtype == want


# --- numerical gradient check ---------------------------------------------------------------------------------

def _numerical_gradient(f, x, dout, h=GRADCHECK_STEP):
    """Central-difference gradient of sum(f(x) * dout) w.r.t. x (x is perturbed in place and restored)."""
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = np.sum(f(x) * dout)
        flat[i] = old - h
        minus = np.sum(f(x) * dout)
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * h)
    return grad


GRADCHECK_CASES = [
    # (x shape, w shape, stride, pad, route)
    ((2, 2, 5, 4), (3, 2, 3, 2), 1, 1, "gemm"),
    ((1, 3, 6, 7), (2, 3, 3, 3), 2, (1, 2), "gemm"),
    ((2, 1, 4, 5), (2, 1, 1, 1), (1, 2), 0, "gemm"),
    ((2, 2, 5, 6), (3, 2, 3, 3), 1, (2, 1), "fft"),
]


@pytest.fixture
def route(request, monkeypatch):
    """Force the forward/backward algorithm ('gemm' or 'fft') so both are checked on small shapes."""
    name = request.param
    monkeypatch.setattr(_conv_impl, "use_fft", lambda *args: name == "fft")
    return name


@pytest.mark.parametrize("x_shape, w_shape, stride, pad, route", GRADCHECK_CASES, indirect=["route"])
def test_conv2d_backward_matches_central_differences(x_shape, w_shape, stride, pad, route, rng):
    """Do dx, dw, db agree with central differences of conv2d_forward (float64)?"""
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    dout = rng.standard_normal(conv2d_forward(x, w, b, stride, pad).shape)
    dx, dw, db = conv2d_backward(dout, x, w, stride, pad)
    expected = {
        "dx": _numerical_gradient(lambda v: conv2d_forward(v, w, b, stride, pad), x, dout),
        "dw": _numerical_gradient(lambda v: conv2d_forward(x, v, b, stride, pad), w, dout),
        "db": _numerical_gradient(lambda v: conv2d_forward(x, w, v, stride, pad), b, dout),
    }
    for name, got in (("dx", dx), ("dw", dw), ("db", db)):
        np.testing.assert_allclose(got, expected[name], rtol=GRADCHECK_RTOL, atol=GRADCHECK_ATOL,
                                   err_msg=f"{name} received from conv2d_backward vs central difference")
