"""Cases of the ``convolution`` assignment: grayscale, padding, output size, correlation/convolution, layers,
the slides' kernels, the kernel-design exercise and the receptive field of stacked layers. Totals: 5 points per
function, 10 for correlate2d, conv2d_forward and the kernel design (see ``points_by_function``)."""
from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from autograder.assignment import Assignment
from autograder.student import convkit_check as cc
from autograder.suites import case
from reference.slides import EXAMPLES, by_id

# The slides' RGB table (deck 000): red, a dark teal, yellow, green, blue, purple.
_SLIDE_RGB = np.array([[[255, 0, 0], [0, 69, 100], [255, 255, 0]], [[0, 255, 0], [0, 0, 255], [153, 51, 255]]],
                      dtype=np.uint8)
# The kernel-design exercise's criteria (options of its cases), stated in the notebook: see
# convkit_check._score_kernel_response. Measured on honest answers: a diagonal Sobel (the hint) answers straight
# edges with 3/4 of its diagonal response, a diagonal Prewitt with 2/3 (an ideal edge detector with cos 45 = 0.71),
# the other diagonal with 0 and the swapped edge with 0; the margins below leave them all full points.
KERNEL_DESIGN: dict[str, Any] = {"flat_ratio": 0.05, "min_response": 0.25, "reversed_ratio": 0.5,
                                 "other_ratio": 0.5, "straight_ratio": 0.9, "weights": (1.0, 2.0, 2.0)}
KERNEL_DESIGN_EXPLANATIONS = {
    cc.KERNEL_NOT_ZERO_SUM: ("the weights do not sum to 0, so a flat region (no edge at all) answers: subtract "
                             "their mean from every weight"),
    cc.KERNEL_WRONG_SIGN: ("your kernel answers the edge with its colours swapped (bright below-left): the right "
                           "orientation with the opposite sign; multiply it by -1"),
    cc.KERNEL_OTHER_DIAGONAL: ("your kernel answers the other diagonal (from the top-right corner to the "
                               "bottom-left): the transposed orientation; mirror it left-right, kernel[:, ::-1]"),
    cc.KERNEL_BOTH_POLARITIES: ("your kernel answers the edge with its colours swapped about as strongly as the "
                                "edge itself (a line or corner detector does, like KERNELS['edge_diagonal']): put "
                                "positive weights on the bright side (above-right) and negative ones on the dark side"),
    cc.KERNEL_STRAIGHT: ("your kernel answers horizontal or vertical edges about as strongly as the diagonal one: "
                         "weigh the pixels across the diagonal (top-right against bottom-left) more than the others"),
}


def _r(rng, *shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def _slide(function):
    return [case(function, ex.id, *ex.args, points=0.5, public=True,
                 description=f"{ex.section}, deck {ex.seed[:3]}", **ex.kwargs)
            for ex in EXAMPLES if ex.function == function]


def _patches(images) -> np.ndarray:
    """Every 3x3 patch of every image, one per row (P, 9): the scorer's response is patches @ kernel.ravel()."""
    return np.concatenate([sliding_window_view(im, (3, 3)).reshape(-1, 9) for im in images])


def _edge_images(size: int, offsets, contrast: float, rng, noise: float):
    """The patches the kernel-design scorer reads: the edge asked for (along the main diagonal, bright above-right),
    the same edges with their colours swapped, the other diagonal and the straight edges (both polarities of each)
    and flat regions."""
    yy, xx = np.mgrid[0:size, 0:size]
    groups: dict[str, list] = {"target": [], "reversed": [], "other": [], "straight": []}
    for o in offsets:
        bright = {"target": [xx - yy > o], "other": [xx + yy > size - 1 + o],
                  "straight": [xx > size // 2 + o, yy > size // 2 + o]}
        groups["target"] += [b * contrast for b in bright["target"]]
        groups["reversed"] += [~b * contrast for b in bright["target"]]
        groups["other"] += [v * contrast for b in bright["other"] for v in (b, ~b)]
        groups["straight"] += [v * contrast for b in bright["straight"] for v in (b, ~b)]
    if noise:
        groups = {name: [im + noise * rng.standard_normal(im.shape) for im in images]
                  for name, images in groups.items()}
    flat = [np.full((size, size), v * contrast) for v in (0.25, 1.0)]
    return {**{name: _patches(images) for name, images in groups.items()}, "flat": _patches(flat)}


def _kernel_design(case_id, seed, size, offsets, contrast, noise, public):
    rng = np.random.default_rng(seed)
    points = sum(KERNEL_DESIGN["weights"])
    c = case("diagonal_edge_kernel", case_id, points=points, public=public, kind="kernel_response",
             data=_edge_images(size, offsets, contrast, rng, noise),
             options={**KERNEL_DESIGN, "contrast": contrast},
             description="a kernel that answers a main-diagonal edge bright above-right, not its swapped colours, "
                         "the other diagonal, straight edges or flat regions")
    return replace(c, explanations=dict(KERNEL_DESIGN_EXPLANATIONS))


def cases():
    rng = np.random.default_rng(1)
    out = [
        case("rgb_to_grayscale", "slide-colours", _SLIDE_RGB, public=True),
        case("rgb_to_grayscale", "float32", rng.random((4, 5, 3), dtype=np.float32), public=True),
        case("rgb_to_grayscale", "uint8-7x3", rng.integers(0, 256, (7, 3, 3), dtype=np.uint8)),
        case("rgb_to_grayscale", "one-pixel", np.array([[[0.2, 0.9, 0.4]]])),
        case("rgb_to_grayscale", "bad-2d", rng.random((4, 4)), kind="raises", raises=("ValueError",), points=0.5),
        case("rgb_to_grayscale", "bad-4-channels", rng.random((3, 3, 4)), kind="raises", raises=("ValueError",),
             points=0.5),

        case("zero_pad", "pad1", _r(rng, 1, 1, 3, 3), 1, public=True),
        case("zero_pad", "pad-pair", _r(rng, 2, 3, 2, 4), (1, 2), public=True),
        case("zero_pad", "image-2d", _r(rng, 3, 4), 2),
        case("zero_pad", "float32-pair", _r(rng, 1, 2, 3, 3, dtype=np.float32), (2, 1), points=0.5),
        case("zero_pad", "pad0", _r(rng, 4, 1, 2, 5), 0, points=0.5),
        case("zero_pad", "bad-negative", _r(rng, 1, 1, 2, 2), -1, kind="raises", raises=("ValueError",), points=0.5),
    ]
    # (case id, (n, k), output_size's keyword arguments, public)
    sizes: list[tuple[str, tuple[int, int], dict[str, Any], bool]] = [
        ("slide-valid", (5, 3), {}, True), ("slide-stride2", (5, 3), {"stride": 2, "pad": 1}, True),
        ("slide-digit", (6, 3), {}, True), ("digits-conv1", (8, 5), {"pad": 2}, False),
        ("mnist-conv1", (28, 5), {"pad": 2}, False), ("stride2", (7, 2), {"stride": 2}, False),
        ("stride3-pad1", (9, 3), {"stride": 3, "pad": 1}, False), ("kernel-fills", (3, 5), {"pad": 1}, False)]
    out += [case("output_size", cid, *nk, kind="exact", points=0.5, public=pub, **kw) for cid, nk, kw, pub in sizes]
    out += [case("output_size", "bad-too-big", 3, 5, kind="raises", raises=("ValueError",), points=0.5, public=True),
            case("output_size", "bad-too-big-padded", 2, 5, stride=2, pad=1, kind="raises", raises=("ValueError",),
                 points=0.5)]

    out += _receptive_field()
    out += _slide("correlate2d")
    half = functools.partial(case, points=0.5)
    out += [
        half("correlate2d", "rect-stride-pad", _r(rng, 6, 9), _r(rng, 2, 3), stride=(1, 2), pad=(1, 2)),
        half("correlate2d", "same-float32", _r(rng, 7, 5, dtype=np.float32), _r(rng, 3, 3, dtype=np.float32),
             pad="same"),
        half("correlate2d", "full", _r(rng, 4, 6), _r(rng, 2, 3), pad="full"),
        half("correlate2d", "valid-column-kernel", _r(rng, 5, 5), _r(rng, 3, 1), pad="valid"),
        half("correlate2d", "kernel-fills-padded", _r(rng, 3, 4), _r(rng, 5, 6), pad=1),
        half("correlate2d", "stride-over-kernel", _r(rng, 9, 9), _r(rng, 2, 2), stride=3),
        half("correlate2d", "one-by-one-stride2", _r(rng, 4, 5), _r(rng, 1, 1), stride=2),
        half("correlate2d", "pad2-stride2", _r(rng, 6, 7), _r(rng, 3, 3), stride=2, pad=2),
        half("correlate2d", "pad-pair-float32", _r(rng, 5, 8, dtype=np.float32), _r(rng, 3, 2, dtype=np.float32),
             pad=(2, 1), public=True),  # the dtype rule shown by a public case (the points stay 10)
        case("correlate2d", "bad-kernel-too-big", _r(rng, 3, 3), _r(rng, 4, 4), kind="raises",
             raises=("ValueError",), points=0.5),
        case("correlate2d", "bad-3d-image", _r(rng, 1, 3, 3), _r(rng, 2, 2), kind="raises",
             raises=("ValueError",), points=0.5),
    ]

    binary, sharpen = by_id("sharpen-valid").args
    out += [
        case("convolve2d", "slide-flip-first", binary, np.arange(1.0, 10.0).reshape(3, 3), public=True),
        case("convolve2d", "first-example", np.arange(9.0).reshape(3, 3), np.array([[0.0, 1], [2, 3]]), public=True),
        case("convolve2d", "rect-stride-pad", _r(rng, 5, 7), _r(rng, 3, 2), stride=2, pad=1),
        case("convolve2d", "same-float32", _r(rng, 6, 6, dtype=np.float32), _r(rng, 3, 3, dtype=np.float32),
             pad="same", points=0.5),
        case("convolve2d", "full", _r(rng, 4, 4), _r(rng, 2, 2), pad="full"),
    ]

    out += [
        case("conv2d_forward", "slide-sharpen-pad1", binary[None, None], sharpen[None, None], np.array([0.5]),
             pad=1, public=True),
        case("conv2d_forward", "rgb-two-filters", _r(rng, 1, 3, 5, 6), _r(rng, 2, 3, 3, 3), _r(rng, 2), pad=1,
             public=True),
        case("conv2d_forward", "batch-stride2", _r(rng, 4, 1, 7, 7), _r(rng, 3, 1, 3, 3), _r(rng, 3), stride=2,
             public=True),
        case("conv2d_forward", "rect-stride-pad", _r(rng, 2, 3, 6, 9), _r(rng, 4, 3, 2, 3), _r(rng, 4),
             stride=(1, 2), pad=(1, 2)),
        case("conv2d_forward", "float32", _r(rng, 4, 3, 8, 6, dtype=np.float32),
             _r(rng, 2, 3, 3, 3, dtype=np.float32), _r(rng, 2, dtype=np.float32), pad=1, points=0.5),
        case("conv2d_forward", "one-by-one", _r(rng, 1, 3, 4, 5), _r(rng, 5, 3, 1, 1), _r(rng, 5)),
        case("conv2d_forward", "kernel-fills-padded", _r(rng, 2, 1, 3, 4), _r(rng, 2, 1, 5, 6), _r(rng, 2), pad=1),
        case("conv2d_forward", "stride-over-kernel", _r(rng, 1, 3, 9, 8), _r(rng, 2, 3, 2, 2), _r(rng, 2),
             stride=3, pad=2),
        case("conv2d_forward", "digits-conv1", _r(rng, 4, 1, 8, 8), _r(rng, 4, 1, 5, 5), _r(rng, 4), pad=2),
        case("conv2d_forward", "bad-channels", _r(rng, 1, 3, 4, 4), _r(rng, 2, 2, 3, 3), _r(rng, 2),
             kind="raises", raises=("ValueError",)),
    ]

    public_kernels = ("identity", "sharpen", "box_blur", "sobel_x")
    hidden_kernels = ("gaussian_blur", "emboss", "sobel_y", "outline", "horizontal_lines", "vertical_lines")
    # KERNELS is provided in a locked setup cell: checked (a student must not break it) but worth no points.
    out += [case("KERNELS", name, name, points=0.0, public=name in public_kernels)
            for name in public_kernels + hidden_kernels]

    out += [_kernel_design("public-edges", 7, 10, (0,), 1.0, 0.0, True),
            _kernel_design("hidden-edges", 8, 14, (-2, 1, 3), 255.0, 2.0, False)]
    return out + _public_float32()


def _receptive_field():
    """The decks' stacks in public (deck 003's stacked 3x3 kernels, deck 004's 28x28 network); hidden, strided
    stacks where each stride product matters, and the inputs as lists, tuples or arrays."""
    exact = functools.partial(case, "receptive_field", kind="exact", points=0.5)
    bad = functools.partial(case, "receptive_field", kind="raises", points=0.5)
    return [
        exact("two-3x3", (3, 3), (1, 1), public=True,
              description="two stacked 3x3 kernels, deck 003 (the slide says they stand in for one 9x9)"),
        exact("three-3x3", (3, 3, 3), (1, 1, 1), public=True, description="three stacked 3x3 kernels, deck 003"),
        exact("deck004-network", (5, 2, 5, 2), (1, 2, 1, 2), public=True,
              description="deck 004's 28x28 network: conv 5x5, max pool 2, conv 5x5, max pool 2"),
        bad("bad-lengths", (3, 3, 3), (1, 1), raises=("ValueError",), public=True,
            description="three kernel sizes but two strides"),
        exact("strided-stem", (7, 3, 3, 3), (2, 2, 1, 1)),
        exact("conv-conv-pool-twice", [3, 3, 2, 3, 3, 2], [1, 1, 2, 1, 1, 2]),
        exact("one-layer-arrays", np.array([7]), np.array([3])),
        exact("pointwise-strided", (1, 1, 3), (2, 2, 1)),
        bad("bad-kernel-zero", (3, 0), (1, 1), raises=("ValueError",)),
        bad("bad-not-int", (3, 2.5), (1, 1), raises=("TypeError", "ValueError")),
    ]

def _public_float32():
    """A public float32 case for each function under the dtype rule (float32 in, float32 out), so the self-check
    shows the rule before the hidden float32 cases grade it. Their own generator: the other cases keep their inputs;
    their points come from the hidden float32 case of the same function (totals unchanged). correlate2d's is its
    ``pad-pair-float32`` case, public."""
    rng = np.random.default_rng(101)
    f32 = np.float32
    return [
        case("zero_pad", "small-float32", _r(rng, 2, 1, 3, 4, dtype=f32), 1, points=0.5, public=True),
        case("convolve2d", "small-float32", _r(rng, 5, 6, dtype=f32), _r(rng, 2, 3, dtype=f32), pad=1, points=0.5,
             public=True),
        case("conv2d_forward", "small-float32", _r(rng, 2, 2, 5, 5, dtype=f32), _r(rng, 3, 2, 3, 3, dtype=f32),
             _r(rng, 3, dtype=f32), pad=1, points=0.5, public=True),
    ]


ASSIGNMENT = Assignment("convolution", "Convolution: images, kernels, padding, stride", cases)


# What each public case is, in the words of its report (suites.cases_for fills a case's empty description from it).
DESCRIPTIONS = {
    ("rgb_to_grayscale", "slide-colours"): "the slides' six colours (red, dark teal, yellow, green, blue, purple), "
                                           "deck 000",
    ("rgb_to_grayscale", "float32"): "a 4x5 float32 photo: the gray image must be float32 too",
    ("zero_pad", "pad1"): "one 3x3 image of one channel, one ring of zeros around it",
    ("zero_pad", "pad-pair"): "2 images of 3 channels, 1 row of zeros above and below, 2 columns left and right",
    ("zero_pad", "small-float32"): "float32 images: the padded array must be float32 too",
    ("output_size", "slide-valid"): "a 3x3 kernel on the 5x5 binary image, no padding, deck 002",
    ("output_size", "slide-stride2"): "the 5x5 binary image with one ring of zeros and stride 2, deck 002",
    ("output_size", "slide-digit"): "a 3x3 kernel on the 6x6 digit, deck 003",
    ("output_size", "bad-too-big"): "a 5x5 kernel does not fit a 3x3 image: raise ValueError",
    ("correlate2d", "pad-pair-float32"): "float32 inputs, 2 rows and 1 column of zeros on each side: the answer "
                                         "must be float32 too",
    ("convolve2d", "slide-flip-first"): "the kernel 1..9 flipped before it slides over the 5x5 binary image",
    ("convolve2d", "first-example"): "the first 2x2 example as a convolution: the kernel turned by 180 degrees, "
                                     "deck 000",
    ("convolve2d", "small-float32"): "float32 inputs, a 2x3 kernel, padding 1: the answer must be float32 too",
    ("conv2d_forward", "slide-sharpen-pad1"): "the sharpen kernel with one ring of zeros as a layer (one image, one "
                                              "filter, bias 0.5), deck 002",
    ("conv2d_forward", "rgb-two-filters"): "one RGB image, two 3x3 filters of 3 channels, padding 1",
    ("conv2d_forward", "batch-stride2"): "4 gray 7x7 images, three 3x3 filters, stride 2",
    ("conv2d_forward", "small-float32"): "float32 inputs (2 images of 2 channels, 3 filters, padding 1): the answer "
                                         "must be float32 too",
    **{("KERNELS", name): f"KERNELS[{name!r}] as the setup cell gives it (worth no points: keep it as it is)"
       for name in ("identity", "sharpen", "box_blur", "sobel_x")},
}
