"""Does reference.conv.receptive_field give the window the layers really see, and reject bad stacks clearly?

The oracle is independent of the formula: a gradient sent back from one output through a real stack of reference
layers (conv2d_backward with all-ones kernels) reaches exactly the input pixels that output sees.
"""
from __future__ import annotations

import numpy as np
import pytest

from reference.conv import conv2d_backward, conv2d_forward, receptive_field

# The decks' stacks: deck 003's stacked 3x3 kernels, deck 004's 28x28 network (conv 5x5, pool 2, conv 5x5, pool 2).
SLIDE_STACKS = [((3, 3), (1, 1), 5), ((3, 3, 3), (1, 1, 1), 7), ((5, 2, 5, 2), (1, 2, 1, 2), 16)]


@pytest.mark.parametrize("kernel_sizes, strides, r", SLIDE_STACKS)
def test_the_slides_stacks(kernel_sizes, strides, r):
    assert receptive_field(kernel_sizes, strides) == r
    assert type(receptive_field(kernel_sizes, strides)) is int


def _seen(kernel_sizes, strides, n=96) -> int:
    """The span (along one axis) of the input pixels the first output of the stack depends on, by backpropagation:
    first to last, since a kernel smaller than the stride below it skips pixels inside its window."""
    xs, x = [], np.zeros((1, 1, 1, n))
    for k, s in zip(kernel_sizes, strides, strict=True):
        xs.append(x)
        x = conv2d_forward(x, np.ones((1, 1, 1, k)), np.zeros(1), stride=(1, s))
    grad = np.zeros_like(x)
    grad[0, 0, 0, 0] = 1.0
    for x_in, k, s in reversed(list(zip(xs, kernel_sizes, strides, strict=True))):
        grad = conv2d_backward(grad, x_in, np.ones((1, 1, 1, k)), stride=(1, s))[0]
    touched = np.flatnonzero(grad[0, 0, 0] > 0.5)  # counts of paths, whole numbers >= 1 (an FFT leaves ~1e-16)
    assert touched[0] == 0  # the first output's window starts at the first pixel
    return int(touched[-1] + 1)


def test_the_formula_is_the_window_a_real_stack_sees():
    rng = np.random.default_rng(11)
    for _ in range(40):
        depth = int(rng.integers(1, 5))
        kernel_sizes = [int(k) for k in rng.integers(1, 5, depth)]
        strides = [int(s) for s in rng.integers(1, 3, depth)]
        assert receptive_field(kernel_sizes, strides) == _seen(kernel_sizes, strides), (kernel_sizes, strides)


def test_the_last_layer_s_stride_changes_nothing_and_an_empty_stack_sees_one_pixel():
    assert receptive_field((3, 3), (1, 7)) == receptive_field((3, 3), (1, 1)) == 5
    assert receptive_field((), ()) == 1
    assert receptive_field(np.array([3, 3]), [1, 1]) == 5  # any sequence of ints: lists, tuples, 1-D arrays


@pytest.mark.parametrize("kernel_sizes, strides, error, message", [
    ((3, 3), (1,), ValueError, "kernel_sizes and strides must have one entry per layer, got 2 kernel sizes and 1"),
    ((3, 0), (1, 1), ValueError, r"kernel_sizes\[1\] must be > 0, got 0"),
    ((3, 3), (1, -2), ValueError, r"strides\[1\] must be > 0, got -2"),
    ((3, 2.5), (1, 1), TypeError, r"kernel_sizes\[1\] must be an int, got 2.5"),
    ((3, True), (1, 1), TypeError, r"kernel_sizes\[1\] must be an int"),
    (3, 1, TypeError, "kernel_sizes must be a sequence of ints"),
    ((3, 3), "11", TypeError, "strides must be a sequence of ints"),
    (np.ones((2, 2), int), (1, 1), ValueError, r"kernel_sizes must be a sequence of ints, one per layer, got an "
                                               r"array of shape \(2, 2\)"),
])
def test_bad_stacks_are_named(kernel_sizes, strides, error, message):
    with pytest.raises(error, match=message):
        receptive_field(kernel_sizes, strides)
