"""Cases of the ``layers`` assignment: ReLU, pooling, flatten, dense, softmax, cross-entropy.
Totals: 5 points per function, 10 for max_pool2d (see ``points_by_function``)."""
from __future__ import annotations

import numpy as np

from autograder.assignment import Assignment
from autograder.suites import case
from reference.slides import EXAMPLES, by_id


def _r(rng, *shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def _slide(function):
    return [case(function, ex.id, *ex.args, public=True, description=f"{ex.section}, deck {ex.seed[:3]}", **ex.kwargs)
            for ex in EXAMPLES if ex.function == function]


def _ties(rng, *shape):
    """Small integers after ReLU: many windows hold their maximum twice (as real feature maps do)."""
    return np.maximum(rng.integers(-2, 3, shape), 0).astype(np.float64)


def cases():
    rng = np.random.default_rng(2)
    pool4 = by_id("max-pool-4x4").args[0]
    out = _slide("relu") + [
        case("relu", "nchw-float32", _r(rng, 2, 3, 4, 5, dtype=np.float32), points=0.5),
        case("relu", "matrix", _r(rng, 3, 7)),
        case("relu", "vector", _r(rng, 9)),
        case("relu", "batch", _r(rng, 2, 2, 3, 3), public=True),
    ]
    out += _slide("max_pool2d") + [
        case("max_pool2d", "batch-channels", _r(rng, 2, 3, 6, 8)),
        case("max_pool2d", "size3-stride2", _r(rng, 1, 2, 5, 7), size=3, stride=2),
        case("max_pool2d", "rect-window", _r(rng, 2, 1, 6, 6), size=(2, 3), points=0.5),
        case("max_pool2d", "overlap-stride1", _r(rng, 1, 1, 4, 6), size=2, stride=1, points=0.5),
        case("max_pool2d", "float32", _r(rng, 2, 2, 4, 4, dtype=np.float32), points=0.5),
        case("max_pool2d", "ties", _ties(rng, 2, 2, 4, 6), public=True),
        case("max_pool2d", "bad-3d", _r(rng, 3, 4, 4), kind="raises", raises=("ValueError",), points=0.5),
        case("max_pool2d", "bad-window-too-big", _r(rng, 1, 1, 2, 2), size=3, kind="raises", raises=("ValueError",),
             points=0.5),
    ]
    out += _slide("avg_pool2d") + [
        case("avg_pool2d", "batch-channels", _r(rng, 2, 3, 6, 6)),
        case("avg_pool2d", "size3-stride2", _r(rng, 1, 2, 5, 7), size=3, stride=2, public=True),
        case("avg_pool2d", "float32", _r(rng, 1, 2, 4, 6, dtype=np.float32), points=0.5),
        case("avg_pool2d", "overlap-stride1", _r(rng, 2, 1, 3, 4), size=2, stride=1),
    ]
    out += [
        case("sum_pool2d", "slide-4x4", pool4, public=True),
        case("sum_pool2d", "batch-channels", _r(rng, 2, 3, 6, 6)),
        case("sum_pool2d", "size3-stride2", _r(rng, 1, 2, 5, 7), size=3, stride=2, public=True),
        case("sum_pool2d", "float32", _r(rng, 1, 2, 4, 6, dtype=np.float32), points=0.5),
        case("sum_pool2d", "rect-window", _r(rng, 2, 1, 4, 6), size=(2, 3), stride=(1, 2)),
    ]
    out += [
        case("flatten", "batch", _r(rng, 2, 3, 2, 2), public=True),
        case("flatten", "single", _r(rng, 1, 1, 1, 1)),
        case("flatten", "float32", _r(rng, 4, 2, 3, 5, dtype=np.float32), public=True),
        case("flatten", "digits-features", _r(rng, 3, 36, 2, 2)),
        case("flatten", "bad-1d", _r(rng, 5), kind="raises", raises=("ValueError",)),
    ]
    out += [
        case("dense_forward", "rect", _r(rng, 2, 3), _r(rng, 3, 4), _r(rng, 4), public=True),
        case("dense_forward", "square", _r(rng, 3, 4), _r(rng, 4, 4), _r(rng, 4), public=True),
        case("dense_forward", "digits-head", _r(rng, 5, 6), _r(rng, 6, 3), _r(rng, 3)),
        case("dense_forward", "square-float32", _r(rng, 1, 8, dtype=np.float32), _r(rng, 8, 8, dtype=np.float32),
             _r(rng, 8, dtype=np.float32), points=0.5),
        case("dense_forward", "bad-w-shape", _r(rng, 2, 5), _r(rng, 3, 4), _r(rng, 4), kind="raises",
             raises=("ValueError",)),
    ]
    out += [
        case("softmax", "small", _r(rng, 2, 3), public=True),
        case("softmax", "huge-logits", 1000 * _r(rng, 2, 4) + np.array([[1000.0], [-1000.0]]), public=True),
        case("softmax", "ten-classes", _r(rng, 5, 10), points=0.5),
        case("softmax", "float32", _r(rng, 3, 4, dtype=np.float32), points=0.5),
        case("softmax", "huge-negative", -1000 + _r(rng, 1, 6), points=0.5),
        case("softmax", "single-row", _r(rng, 1, 4), points=0.5),
        case("softmax", "three-axes", 900 * _r(rng, 2, 3, 5), points=0.5),
    ]
    out += [
        case("cross_entropy", "small", _r(rng, 3, 4), np.array([0, 3, 1]), public=True),
        case("cross_entropy", "ten-classes", _r(rng, 8, 10), rng.integers(0, 10, 8)),
        case("cross_entropy", "huge-logits", 800 * _r(rng, 4, 5), np.array([4, 0, 2, 2]), public=True),
        case("cross_entropy", "float32", _r(rng, 6, 3, dtype=np.float32), np.array([0, 1, 2, 2, 1, 0])),
        case("cross_entropy", "bad-label", _r(rng, 2, 3), np.array([0, 3]), kind="raises",
             raises=("ValueError",), points=0.5),
    ]
    return out + _added_cases() + _public_float32()


def _added_cases():
    """Rows added for mistakes real submissions made (autograder.mistakes); their own generator, so the rows above
    keep their inputs."""
    rng = np.random.default_rng(21)
    return [
        # A map of odd size: stride 2 does not divide 5 - 2, and the last row and column are simply not pooled.
        case("max_pool2d", "odd-size", _r(rng, 1, 2, 5, 5), points=0.5, public=True),
        case("max_pool2d", "odd-size-batch", _r(rng, 2, 1, 7, 7), points=0.5),
        # Logits spread so wide that the labels' probabilities underflow to 0 (log of them: -inf).
        case("cross_entropy", "huge-spread", 700 * _r(rng, 5, 6), np.array([1, 5, 0, 3, 3]), points=0.5),
    ]


def _public_float32():
    """A public float32 case for each function under the dtype rule (float32 in, float32 out), so the self-check
    shows the rule before the hidden float32 cases grade it. Their own generator: the other cases keep their inputs;
    their points come from a hidden case of the same function (totals unchanged)."""
    rng = np.random.default_rng(102)
    f32 = np.float32
    return [
        case("relu", "small-float32", _r(rng, 3, 4, dtype=f32), points=0.5, public=True),
        case("max_pool2d", "small-float32", _r(rng, 1, 2, 4, 6, dtype=f32), points=0.5, public=True),
        case("avg_pool2d", "small-float32", _r(rng, 1, 2, 4, 4, dtype=f32), points=0.5, public=True),
        case("sum_pool2d", "small-float32", _r(rng, 1, 1, 4, 6, dtype=f32), points=0.5, public=True),
        case("dense_forward", "small-float32", _r(rng, 2, 3, dtype=f32), _r(rng, 3, 4, dtype=f32),
             _r(rng, 4, dtype=f32), points=0.5, public=True),
        case("softmax", "small-float32", _r(rng, 2, 5, dtype=f32), points=0.5, public=True),
    ]


ASSIGNMENT = Assignment("layers", "Layers: ReLU, pooling, flatten, dense, softmax", cases)


# What each public case is, in the words of its report (suites.cases_for fills a case's empty description from it).
_FLOAT32 = "float32 input: the answer must be float32 too"
DESCRIPTIONS = {
    ("relu", "batch"): "a batch of 2 maps of 2 channels, 3x3 each",
    ("relu", "small-float32"): _FLOAT32,
    ("max_pool2d", "ties"): "windows that hold their maximum twice (small integers after a ReLU)",
    ("max_pool2d", "odd-size"): "5x5 maps: with stride 2 the last row and column are left out",
    ("max_pool2d", "small-float32"): _FLOAT32,
    ("avg_pool2d", "size3-stride2"): "3x3 windows with stride 2: neighbouring windows share a row or column",
    ("avg_pool2d", "small-float32"): _FLOAT32,
    ("sum_pool2d", "slide-4x4"): "deck 001's 4x4 pooling example, summed: 2x2 windows, stride 2",
    ("sum_pool2d", "size3-stride2"): "3x3 windows with stride 2: neighbouring windows share a row or column",
    ("sum_pool2d", "small-float32"): _FLOAT32,
    ("flatten", "batch"): "2 maps of 3 channels, 2x2 each: one row of 12 per image",
    ("flatten", "float32"): "float32 maps: the rows must be float32 too",
    ("dense_forward", "rect"): "2 rows of 3 features, 4 outputs",
    ("dense_forward", "square"): "3 rows of 4 features and a square 4x4 weight matrix (w.T has the same shape)",
    ("dense_forward", "small-float32"): "float32 inputs: the answer must be float32 too",
    ("softmax", "small"): "2 rows of 3 logits",
    ("softmax", "huge-logits"): "logits near +1000 and -1000: exp overflows unless each row's maximum is "
                                "subtracted first",
    ("softmax", "small-float32"): _FLOAT32,
    ("cross_entropy", "small"): "3 rows of 4 logits and their labels",
    ("cross_entropy", "huge-logits"): "logits of size about 800: the log of a softmax that underflowed to 0 is -inf",
}
