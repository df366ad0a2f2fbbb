"""The capstone's accuracy as the grader measures it: the reference network on the parameters the student trained.

The shipped scorer (``convkit_check._score_accuracy``, which the student's self-check runs) takes the accuracy of
the student's ``predict``. In the grader that would pay a ``predict`` that looks the digits up, or compares them
with stored training digits (a nearest-neighbour "model"), every accuracy point. So in the grader process the
``accuracy`` kind is scored here instead (importing this module installs :func:`score_accuracy` in the grader's
``convkit_check.SCORERS``; the student's own copy of convkit_check is a separate file and keeps its scorer):

1. What ``train_cnn`` returns must be the network's parameters: a dict, or ``(params, history)``, holding the keys
   of :data:`reference.cnn.PARAM_KEYS` as float32 or float64 arrays (any mix) of exactly the shapes of
   :func:`reference.cnn.init_cnn`. Extra keys are allowed and play no part in the measurement. Weights that are
   NaN or infinite mean training diverged.
2. The accuracy is that of the REFERENCE forward pass (:func:`reference.cnn.predict`, in float64) on those
   parameters, over the case's digits exactly as the grader holds them. Scores are reproducible: the same
   parameters always earn the same points.
3. The student's ``predict`` runs on the same parameters only to check that it IS the network: on a case with
   ``options["secret_transform"]`` it sees the held-out digits shuffled and changed by a transform drawn from a
   secret of this grading run (:func:`secret_transform`; the secret never leaves this process), and it must agree
   with the reference forward pass on those same images for at least :data:`AGREEMENT` of them.

Only plain arrays cross the sandbox boundary; every computation here runs on them in the trusted process.
"""
from __future__ import annotations

import secrets

import numpy as np

from autograder.student import convkit_check as cc
from reference.cnn import PARAM_KEYS, param_shapes
from reference.cnn import predict as reference_predict

__all__ = ["score_accuracy", "secret_transform", "check_params", "AGREEMENT", "EXPLANATIONS", "NOT_A_CNN",
           "DIVERGED", "DISAGREES", "PARAMS_TYPE_MESSAGE", "PARAMS_KEYS_MESSAGE", "PARAMS_SHAPE_MESSAGE",
           "DIVERGED_MESSAGE", "DISAGREE_MESSAGE", "ACCURACY_DETAIL"]

KIND = "accuracy"
# An honest predict computes the same network as the reference (float32 vs float64 changes an argmax only on a
# near-tie); 95% leaves room for such ties and nothing for a different classifier.
AGREEMENT = 0.95
# The secret transform: one intensity scale for the whole set, Gaussian noise of about half a grey level
# (1/16 = 0.0625), clipped to the data's range [0, 1], and a new order. Measured on reference networks trained with
# the grader's budget (seeds 0-2, 10 draws each, twice): held-out accuracy moves by -0.6 to +0.6 points (plain
# 96.7-97.8%), and a float32 forward pass agrees with the float64 one on every transformed digit.
SCALE_RANGE = (0.85, 1.0)
NOISE_STD = 0.03
_FLOATS = (np.float32, np.float64)

# Diagnoses (a hidden case shows only these names and explanations) and the messages of a public case.
NOT_A_CNN, DIVERGED, DISAGREES = "not-a-cnn", "training-diverged", "predict-disagrees"
EXPLANATIONS = {
    NOT_A_CNN: ("train_cnn did not return the network's parameters: a dict (or (params, history)) with w1, b1, w2, "
                "b2, w3, b3 as float32 or float64 arrays of the shapes of init_cnn. The grader measures the accuracy "
                "of the network on those parameters"),
    DIVERGED: ("the parameters train_cnn returned hold NaN or infinite values: training diverged (too high a "
               "learning rate, or a wrong gradient)"),
    DISAGREES: (f"predict does not compute the network's forward pass on the parameters train_cnn returned (it "
                f"agrees with the network on fewer than {AGREEMENT:.0%} of the digits). The grader measures the "
                f"accuracy of the network itself: predict must be the argmax of cnn_forward's logits, not a lookup "
                f"or a comparison with training digits"),
}
PARAMS_TYPE_MESSAGE = ("train_cnn returned a {got}, not the network's parameters: a dict with the keys {keys}, "
                       "or (params, history)")
PARAMS_KEYS_MESSAGE = "the parameters train_cnn returned lack the keys {missing} (the network needs {keys})"
PARAMS_SHAPE_MESSAGE = ("params[{key!r}]: expected a float32 or float64 array of shape {expected} (the layout of "
                        "init_cnn), got {got}")
DIVERGED_MESSAGE = "params[{key!r}] holds NaN or infinite values: training diverged"
DISAGREE_MESSAGE = ("predict(params, x) agrees with the network's forward pass on these parameters on only {agree} "
                    "of {n} digits (at least {need:.0%} needed): the accuracy is the network's, so predict must be "
                    "its forward pass")
ACCURACY_DETAIL = ("{accuracy:.3f} on {n} held-out digits (the network's forward pass on the parameters train_cnn "
                   "returned); full points from {need:.2f}")


def secret_transform(x, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """``(images, order)``: the digits ``x (N, 1, 8, 8)`` in [0, 1] shuffled by ``order`` and changed by a
    label-preserving transform (a scale in :data:`SCALE_RANGE`, noise of std :data:`NOISE_STD`, clipped to
    [0, 1]), in ``x``'s dtype. ``rng``: by default one seeded from :mod:`secrets`, a new secret per call."""
    x = np.asarray(x)
    rng = rng if rng is not None else np.random.default_rng(secrets.randbits(128))
    order = rng.permutation(x.shape[0])
    changed = x[order].astype(np.float64) * rng.uniform(*SCALE_RANGE) + rng.normal(0.0, NOISE_STD, x[order].shape)
    return np.clip(changed, 0.0, 1.0).astype(x.dtype), order


def check_params(value) -> tuple[dict | None, list[str], str | None]:
    """``(params as float64, [], None)`` when ``value`` (train_cnn's answer) is the network's parameters, else
    ``(None, [message], diagnosis)``."""
    if isinstance(value, (tuple, list)) and value and isinstance(value[0], dict):
        value = value[0]  # (params, history)
    if not isinstance(value, dict):
        return None, [PARAMS_TYPE_MESSAGE.format(got=type(value).__name__, keys=list(PARAM_KEYS))], NOT_A_CNN
    missing = [k for k in PARAM_KEYS if k not in value]
    if missing:
        return None, [PARAMS_KEYS_MESSAGE.format(missing=missing, keys=list(PARAM_KEYS))], NOT_A_CNN
    params = {}
    for key, shape in param_shapes().items():
        got = value[key]
        if not isinstance(got, np.ndarray) or got.dtype not in _FLOATS or got.shape != shape:
            described = f"{got.shape} {got.dtype}" if isinstance(got, np.ndarray) else f"a {type(got).__name__}"
            return None, [PARAMS_SHAPE_MESSAGE.format(key=key, expected=shape, got=described)], NOT_A_CNN
        if not np.isfinite(got).all():
            return None, [DIVERGED_MESSAGE.format(key=key)], DIVERGED
        params[key] = got.astype(np.float64)
    return params, [], None


def score_accuracy(case: cc.Case, call) -> tuple[float, list[str], tuple[str, ...]]:
    """The grader's scorer of an ``accuracy`` case: ``(points, messages, diagnoses)`` (see the module docstring)."""
    answer = call(case.function, cc._copy(case.args), cc._copy(case.kwargs))
    if answer is None:
        return 0.0, [cc.NONE_MESSAGE.format(function=case.function)], ()
    params, problems, diagnosis = check_params(answer)
    if params is None:
        return 0.0, problems, (diagnosis,) if diagnosis else ()
    x, labels = np.asarray(case.data["x"]), np.asarray(case.data["y"])
    accuracy = float(np.mean(reference_predict(params, x) == labels))
    shown = secret_transform(x)[0] if case.options.get("secret_transform") else x
    student_params = answer[0] if isinstance(answer, (tuple, list)) else answer
    predicted = call(case.options.get("predict", "predict"), (student_params, shown.copy()), {})
    if predicted is None:
        return 0.0, [cc.NONE_MESSAGE.format(function="predict")], ()
    pred = np.asarray(predicted)
    if pred.shape != labels.shape:
        return 0.0, [cc.SHAPE_MESSAGE.format(what="predict(params, x)", expected=labels.shape, got=pred.shape)], ()
    agree = int(np.sum(pred == reference_predict(params, shown)))
    if agree < AGREEMENT * labels.size:
        return 0.0, [DISAGREE_MESSAGE.format(agree=agree, n=labels.size, need=AGREEMENT)], (DISAGREES,)
    thresholds = case.options["thresholds"]
    fraction = max([f for threshold, f in thresholds if accuracy >= threshold], default=0.0)
    need = max(t for t, _ in thresholds)
    detail = [] if fraction == 1.0 else [cc.SCORE_MESSAGE.format(what="accuracy", detail=ACCURACY_DETAIL.format(
        accuracy=accuracy, n=labels.size, need=need))]
    return case.points * fraction, detail, ()


cc.SCORERS[KIND] = score_accuracy
