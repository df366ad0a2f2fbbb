"""Is the capstone CNN (reference.cnn) right: shapes, whole-network gradients, agreement with torch, training?"""
from __future__ import annotations


import numpy as np
import pytest

from reference.cnn import (
    PARAM_KEYS, accuracy, cnn_forward, cnn_loss_and_grads, init_cnn, load_digits_split, param_shapes, predict,
    sgd_step, train_cnn,
)
from reference.digits import NUM_CLASSES, stratified_split
from reference.gradcheck import numerical_gradient

# The capstone's promise (CURRICULUM.md section 4, issue 2): held-out accuracy of the reference model.
TARGET_ACCURACY = 0.97
# Central differences in float64 agree with a correct backward pass to ~1e-9 relative here; a wrong one misses by
# far more than 1e-6.
GRADCHECK_REL_TOL = 1e-6
GRADCHECK_BATCH = 3

# The module's shape table for N images at the defaults: (N, 1, 8, 8) -> ... -> (N, 10).
N = 5
INTERMEDIATE_SHAPES = [
    ("x", (N, 1, 8, 8)), ("z1", (N, 16, 8, 8)), ("a1", (N, 16, 8, 8)), ("p1", (N, 16, 4, 4)),
    ("z2", (N, 36, 4, 4)), ("a2", (N, 36, 4, 4)), ("p2", (N, 36, 2, 2)), ("f", (N, 144)), ("logits", (N, 10)),
]
PARAM_SHAPES = {"w1": (16, 1, 5, 5), "b1": (16,), "w2": (36, 16, 5, 5), "b2": (36,), "w3": (144, 10), "b3": (10,)}

# Whole-network gradient checks: (filters, kernel_size, entries checked per parameter). A small network has every
# entry of every parameter checked; the default network every parameter, with w2 (14,400 entries, ~30 s) limited
# to its first two filters and w3 to its first 48 rows (a third).
GRADCHECK_CASES = [
    pytest.param((2, 3), 3, {}, id="small-all-entries"),
    pytest.param((16, 36), 5, {"w2": np.s_[:2], "w3": np.s_[:48]}, id="default-size"),
]


@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


def _batch(n, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 8, 8)).astype(dtype)
    y = rng.integers(0, NUM_CLASSES, n)
    return x, y


def _rel_error(a, b):
    """||a - b|| / (||a|| + ||b||): scale-free, and not thrown by individual near-zero entries."""
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return 0.0 if denom == 0 else float(np.linalg.norm(a - b) / denom)


# --- the data split ------------------------------------------------------------------------------------------

def test_split_shapes_dtypes_and_range(digits):
    """Does load_digits_split return (N, 1, 8, 8) float64 images in [0, 1] and int64 labels 0..9?"""
    x_train, y_train, x_test, y_test = digits
    assert x_train.shape == (y_train.size, 1, 8, 8) and x_test.shape == (y_test.size, 1, 8, 8)
    assert x_train.dtype == x_test.dtype == np.float64 and y_train.dtype == y_test.dtype == np.int64
    assert x_train.min() >= 0.0 and x_train.max() == 1.0
    assert y_train.size + y_test.size == 1797
    assert y_test.size == pytest.approx(0.2 * 1797, abs=NUM_CLASSES)


def test_split_is_deterministic_disjoint_and_stratified(digits):
    """Same seed -> same split; train and test share no image; each digit keeps its share in the test part?"""
    again = load_digits_split()
    for a, b in zip(digits, again, strict=True):
        np.testing.assert_array_equal(a, b)
    y = np.concatenate([digits[1], digits[3]])
    train_idx, test_idx = stratified_split(y, 0.2, seed=0)
    assert np.intersect1d(train_idx, test_idx).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train_idx, test_idx])), np.arange(y.size))
    per_class_all, per_class_test = np.bincount(y), np.bincount(y[test_idx], minlength=NUM_CLASSES)
    np.testing.assert_allclose(per_class_test, np.round(0.2 * per_class_all))
    # No image of the held-out part is also a training image (the raw data holds no exact duplicates across them).
    train_rows = {row.tobytes() for row in digits[0].reshape(len(digits[0]), -1)}
    assert not any(row.tobytes() in train_rows for row in digits[2].reshape(len(digits[2]), -1))


def test_split_depends_on_seed():
    """Does another seed give another held-out part?"""
    y = np.repeat(np.arange(NUM_CLASSES), 20)
    assert not np.array_equal(stratified_split(y, 0.2, 0)[1], stratified_split(y, 0.2, 1)[1])


# --- shapes and parameters -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name, shape", INTERMEDIATE_SHAPES, ids=[n for n, _ in INTERMEDIATE_SHAPES])
def test_intermediate_shapes(name, shape):
    """Does every intermediate of cnn_forward have the shape the module's table documents?"""
    _, cache = cnn_forward(init_cnn(0), _batch(N)[0])
    assert cache[name].shape == shape


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_init_shapes_dtype_and_scale(dtype):
    """Are the parameters shaped as documented, in the requested dtype, He-scaled, biases zero, seed-determined?"""
    params = init_cnn(0, dtype=dtype)
    assert {k: v.shape for k, v in params.items()} == PARAM_SHAPES == param_shapes()
    assert all(v.dtype == dtype for v in params.values())
    for key, fan_in in [("w1", 25), ("w2", 400), ("w3", 144)]:
        assert params[key].std() == pytest.approx(np.sqrt(2.0 / fan_in), rel=0.15), key
    assert all(not params[k].any() for k in ("b1", "b2", "b3"))
    np.testing.assert_array_equal(params["w2"], init_cnn(0, dtype=dtype)["w2"])
    assert not np.array_equal(params["w2"], init_cnn(1, dtype=dtype)["w2"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_dtype_follows_params(dtype):
    """Do float32 parameters give float32 logits and gradients (the fast training path), float64 likewise?"""
    x, y = _batch(4)
    loss, grads = cnn_loss_and_grads(init_cnn(0, dtype=dtype), x, y)
    assert isinstance(loss, float)
    assert all(grads[k].dtype == dtype for k in PARAM_KEYS)


# --- gradients -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("filters, kernel_size, subsets", GRADCHECK_CASES)
@pytest.mark.parametrize("key", PARAM_KEYS)
def test_whole_network_gradient_check(filters, kernel_size, subsets, key):
    """Does cnn_loss_and_grads give the central-difference gradient of the loss for every parameter (float64)?"""
    params = init_cnn(1, np.float64, filters=filters, kernel_size=kernel_size)
    # Non-zero biases so that the bias gradients pass through every layer with something to check.
    rng = np.random.default_rng(2)
    params = {k: v + (0.1 * rng.standard_normal(v.shape) if k.startswith("b") else 0) for k, v in params.items()}
    x, y = _batch(GRADCHECK_BATCH, seed=3)
    _, grads = cnn_loss_and_grads(params, x, y)
    part = subsets.get(key, np.s_[:])
    block = params[key][part].copy()

    def loss_of(values):
        trial = dict(params)
        trial[key] = params[key].copy()
        trial[key][part] = values
        return cnn_loss_and_grads(trial, x, y)[0]

    numeric = numerical_gradient(loss_of, block, np.float64(1.0))
    err = _rel_error(grads[key][part], numeric)
    assert err < GRADCHECK_REL_TOL, f"{key}: relative error {err:.2e} of the analytic gradient"


def test_sgd_step_is_a_new_dict_and_moves_downhill():
    """Does sgd_step return params - lr * grads without changing its input, and lower the loss on that batch?"""
    params, (x, y) = init_cnn(0), _batch(16)
    before = {k: v.copy() for k, v in params.items()}
    loss, grads = cnn_loss_and_grads(params, x, y)
    stepped = sgd_step(params, grads, lr=0.05)
    for k in PARAM_KEYS:
        np.testing.assert_array_equal(params[k], before[k])
        np.testing.assert_allclose(stepped[k], before[k] - 0.05 * grads[k])
    assert cnn_loss_and_grads(stepped, x, y)[0] < loss


# --- input checks --------------------------------------------------------------------------------------------

BAD_INPUTS = [
    ("x has 3 axes", lambda p: cnn_forward(p, np.zeros((2, 8, 8))), ValueError, "x must have 4 dimensions"),
    ("x has 3 channels", lambda p: cnn_forward(p, np.zeros((2, 3, 8, 8))), ValueError, "C=1"),
    ("x is 10x10", lambda p: cnn_forward(p, np.zeros((2, 1, 12, 12))), ValueError, "flattens to D="),
    ("params lacks w3", lambda p: cnn_forward({k: p[k] for k in ("w1", "b1")}, np.zeros((2, 1, 8, 8))),
     ValueError, "missing the keys"),
    ("params is a list", lambda p: cnn_forward(list(p.values()), np.zeros((2, 1, 8, 8))), TypeError, "dict"),
    ("y too short", lambda p: cnn_loss_and_grads(p, np.zeros((2, 1, 8, 8)), np.array([1])), ValueError,
     "y must have shape (2,)"),
    ("y out of range", lambda p: cnn_loss_and_grads(p, np.zeros((2, 1, 8, 8)), np.array([1, 10])), ValueError,
     "labels in 0..9"),
    ("y float", lambda p: cnn_loss_and_grads(p, np.zeros((2, 1, 8, 8)), np.array([1.0, 2.0])), TypeError,
     "integer labels"),
    ("grads misshapen", lambda p: sgd_step(p, {**p, "w1": np.zeros((2, 2, 2, 2))}, 0.1), ValueError, "grads['w1']"),
]


@pytest.mark.parametrize("call, error, message", [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_bad_inputs_name_the_argument(call, error, message):
    """Does a bad input raise ValueError/TypeError that names the argument (and its shape)?"""
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        call(init_cnn(0))


# --- training ------------------------------------------------------------------------------------------------

def test_predict_is_batched_consistently():
    """Does predict give (N,) int64 labels, the same whatever its batch size?"""
    params, (x, _) = init_cnn(0), _batch(10)
    labels = predict(params, x)
    assert labels.shape == (10,) and labels.dtype == np.int64
    np.testing.assert_array_equal(labels, predict(params, x, batch_size=3))
    np.testing.assert_array_equal(labels, np.argmax(cnn_forward(params, x)[0], axis=1))


def test_short_training_lowers_the_loss(digits):
    """Do two epochs on 320 digits record falling loss and rising accuracy, and call the callback each epoch?"""
    seen = []
    _, history = train_cnn(digits[0][:320], digits[1][:320], epochs=2, callback=lambda e, p, h: seen.append(e))
    assert seen == [1, 2]
    assert history["loss"][1] < history["loss"][0] and history["accuracy"][1] > history["accuracy"][0]


@pytest.mark.slow
def test_training_reaches_target_accuracy(digits):
    """Does the default training (fixed seed) reach 97% on the held-out digits? (benchmarks/timings.py times it.)"""
    x_train, y_train, x_test, y_test = digits
    params, history = train_cnn(x_train, y_train, seed=0)
    acc = accuracy(params, x_test, y_test)
    assert len(history["loss"]) == len(history["accuracy"]) == len(history["seconds"])
    assert acc >= TARGET_ACCURACY


# --- against torch -------------------------------------------------------------------------------------------

def _torch_loss_and_grads(params, x, y):
    """The same network from torch.nn.functional: logits, mean cross-entropy and autograd gradients, as ndarrays."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from reference.torch_check import DEVICE, to_numpy, to_torch

    t = {k: to_torch(v, requires_grad=True) for k, v in params.items()}
    pad1, pad2 = params["w1"].shape[-1] // 2, params["w2"].shape[-1] // 2
    h = F.max_pool2d(F.relu(F.conv2d(to_torch(x), t["w1"], t["b1"], padding=pad1)), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, t["w2"], t["b2"], padding=pad2)), 2)
    logits = torch.flatten(h, 1) @ t["w3"] + t["b3"]
    loss = F.cross_entropy(logits, torch.from_numpy(y).to(DEVICE))
    loss.backward()
    return to_numpy(logits), float(loss.detach()), {k: to_numpy(v.grad) for k, v in t.items()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_network_matches_torch(dtype):
    """Do cnn_forward's logits, the loss and every gradient equal torch's (functional forward, autograd backward)?"""
    from reference.torch_check import TOL, assert_close

    params = init_cnn(4, dtype)
    x, y = _batch(8, seed=5, dtype=dtype)
    t_logits, t_loss, t_grads = _torch_loss_and_grads(params, x, y)
    logits, _ = cnn_forward(params, x)
    assert_close(logits, t_logits, "cnn_forward logits")
    loss, grads = cnn_loss_and_grads(params, x, y)
    assert loss == pytest.approx(t_loss, rel=TOL[np.dtype(dtype)][0])
    for k in PARAM_KEYS:
        assert_close(grads[k], t_grads[k], f"grads[{k!r}]")
