"""Cases of the ``cnn`` assignment: a gradient check of the whole network and accuracy on held-out digits.

Totals: cnn_loss_and_grads 10 points, train_cnn 10 points. The accuracy cases train with the student's
``train_cnn`` (small budget: the reference takes about a second) and score the trained network on digits the grader
keeps: the hidden case's test digits are the held-out part of ``load_digits_split``, never frozen, and the worker
cannot read scikit-learn's copy (autograder/sandbox/layers.py). In the grader the accuracy is that of the reference
forward pass on the parameters ``train_cnn`` returns, and ``predict`` must agree with it (autograder/capstone.py;
on the hidden case it sees the digits through a secret transform); the student's self-check scores their
``predict`` directly. Points by accuracy (:data:`HELD_OUT_THRESHOLDS`): full from 0.95, 3/4 from 0.90, 1/2 from
0.80, 1/4 from 0.50. The public case validates on the last 300 training digits (it trains on fewer, so its
thresholds are 0.05 lower).

A release carries the training digits (:func:`write_training_digits`), and a submission gets more time in the
sandbox (:data:`LIMITS`): it trains twice.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from autograder import capstone  # installs the grader's accuracy scorer
from autograder.assignment import Assignment
from autograder.sandbox import Limits
from autograder.suites import case
from reference.cnn import init_cnn
from reference.digits import load_digits_split

# The grader's training budget: the reference reaches ~0.97 held-out accuracy in ~1.5 s on one core.
TRAIN_KWARGS: dict[str, Any] = {"epochs": 8, "lr": 0.1, "batch_size": 16}
HELD_OUT_THRESHOLDS = [[0.95, 1.0], [0.90, 0.75], [0.80, 0.5], [0.50, 0.25]]
VALIDATION_THRESHOLDS = [[t - 0.05, f] for t, f in HELD_OUT_THRESHOLDS]
VALIDATION_SIZE = 300
GRAD_RTOL, GRAD_ATOL = 1e-6, 1e-9
SMALL_FILTERS = (2, 3)
# Training takes seconds with correct code; each of the two trainings may take most of a minute with slow but
# correct code, hence a longer call timeout and budget than the other assignments'.
LIMITS = Limits(call_timeout_s=90.0, cpu_s=600, budget_s=300.0)
DATA_FILE = "digits_train.npz"


def write_training_digits(dest) -> Path:
    """Write ``dest/digits_train.npz`` (``x_train (N, 1, 8, 8)`` float in [0, 1], ``y_train (N,)`` int64): the
    TRAINING part of ``reference.digits.load_digits_split()`` only; the held-out digits stay with the grader.
    A release of the cnn carries it (``ASSIGNMENT.release_files``); the notebook reads it."""
    x_train, y_train, _, _ = load_digits_split()
    path = Path(dest) / DATA_FILE
    np.savez_compressed(path, x_train=x_train, y_train=y_train)
    return path


def _grad_case(cid, seed, n, public, points):
    rng = np.random.default_rng(seed)
    params = init_cnn(seed, np.float64, filters=SMALL_FILTERS)
    x = rng.random((n, 1, 8, 8))
    y = rng.integers(0, 10, n)
    return case("cnn_loss_and_grads", cid, params, x, y, points=points, public=public, rtol=GRAD_RTOL,
                atol=GRAD_ATOL, output_names=("loss", "grads"))


def cases():
    x_train, y_train, x_test, y_test = load_digits_split()
    x_train, x_test = x_train.astype(np.float32), x_test.astype(np.float32)
    fit, val = slice(0, -VALIDATION_SIZE), slice(-VALIDATION_SIZE, None)
    accuracy = [
        case("train_cnn", "validation-accuracy", x_train[fit], y_train[fit], public=True, points=4,
             kind="accuracy", data={"x": x_train[val], "y": y_train[val]},
             options={"thresholds": VALIDATION_THRESHOLDS, "predict": "predict"}, **TRAIN_KWARGS),
        case("train_cnn", "held-out-accuracy", x_train, y_train, points=6, kind="accuracy",
             data={"x": x_test, "y": y_test},
             options={"thresholds": HELD_OUT_THRESHOLDS, "predict": "predict", "secret_transform": True},
             **TRAIN_KWARGS),
    ]
    return [
        _grad_case("small-batch", 11, 4, True, 4),
        _grad_case("batch-of-one", 12, 1, False, 3),
        _grad_case("batch-of-six", 13, 6, False, 3),
        *(replace(c, explanations=dict(capstone.EXPLANATIONS)) for c in accuracy),
    ]


ASSIGNMENT = Assignment("cnn", "A CNN that reads handwritten digits", cases, limits=LIMITS,
                        release_files=write_training_digits)


# What each public case is, in the words of its report (suites.cases_for fills a case's empty description from it).
DESCRIPTIONS = {
    ("cnn_loss_and_grads", "small-batch"): "a small network (2 and 3 filters) on 4 random 8x8 images: the loss "
                                           "and the gradient of every parameter",
    ("train_cnn", "validation-accuracy"): "train on digits_train.npz less its last 300 digits, predict those 300: "
                                          "the accuracy decides the points",
}
