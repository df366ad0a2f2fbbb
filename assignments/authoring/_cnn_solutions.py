"""The solution cells of the cnn notebook: the network functions of ``reference/cnn.py`` written for students, the
provided input checks they share, and the two cells where the student brings in their layers from assignments 1-3.

The network functions call only the layer functions the student pastes (``conv2d_forward``, ``relu``, ...), so the
trained network is entirely theirs. tests/assignments/test_notebooks_34.py grades the bodies against the reference.
"""
from __future__ import annotations

import nbformat

from assignments.authoring import nb
from assignments.authoring._backprop_solutions import (POOL_CHECKS, backward_functions, forward_functions,
                                                       paste_cell)
from reference.cnn import DIVERGED_MESSAGE

__all__ = ["FUNCTIONS", "SETUP", "solutions", "layer_paste_cells"]

# Input checks of the network functions, provided like the helpers of reference._checks (written for the notebook).
_NETWORK_CHECKS = '''
PARAM_KEYS = ("w1", "b1", "w2", "b2", "w3", "b3")
POOL = 2           # 2x2 max pooling, stride 2
NUM_CLASSES = 10


def _check_params(params, name="params"):
    """``params`` as a dict of float arrays with the keys of PARAM_KEYS and the right numbers of axes."""
    if not isinstance(params, dict):
        raise TypeError(f"{name} must be a dict with keys {PARAM_KEYS}, got {type(params).__name__}")
    missing = [k for k in PARAM_KEYS if k not in params]
    if missing:
        raise ValueError(f"{name} is missing the keys {missing} (needs {PARAM_KEYS})")
    checked = {k: as_float_array(params[k], f"{name}[{k!r}]") for k in PARAM_KEYS}
    for k, ndim in zip(PARAM_KEYS, (4, 1, 4, 1, 2, 1)):
        if checked[k].ndim != ndim:
            raise ValueError(f"{name}[{k!r}] must have {ndim} dimensions, got shape {checked[k].shape}")
    return checked


def _check_images(x, params):
    """Images ``x (N, C, H, W)`` in the dtype of the parameters."""
    x = as_float_array(x, "x", 4, "(N, C, H, W)")
    c = params["w1"].shape[1]
    if x.shape[1] != c:
        raise ValueError(f"x must have C={c} channel(s) to match params['w1'] {params['w1'].shape}, got {x.shape}")
    return x.astype(params["w1"].dtype, copy=False)


def _check_labels(y, n, num_classes=NUM_CLASSES):
    """Integer labels ``y (N,)`` in ``[0, K)``."""
    y = as_array(y, "y", 1, "(N,)")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"y must hold integer labels, got dtype {y.dtype}")
    if y.shape[0] != n:
        raise ValueError(f"y must have shape ({n},) to match x, got {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"y must hold labels in 0..{num_classes - 1}, got {y.min()}..{y.max()}")
    return y
'''

# The training loop's stop on a diverging run (the student's train_cnn calls check_finite on every batch).
_DIVERGENCE_CHECK = f'''
DIVERGED_MESSAGE = {DIVERGED_MESSAGE!r}


def check_finite(logits):
    """Stop training with FloatingPointError(DIVERGED_MESSAGE) once the logits are no longer finite numbers."""
    if not np.all(np.isfinite(logits)):
        raise FloatingPointError(DIVERGED_MESSAGE)
'''

SETUP = "\n\n".join(["import time\n" + nb.provided_checks(), POOL_CHECKS.strip("\n"), _NETWORK_CHECKS.strip("\n"),
                     _DIVERGENCE_CHECK.strip("\n")])

_CELLS = {
    "init_cnn": ('''
        def init_cnn(seed=0, dtype=np.float64, filters=(16, 36), kernel_size=5):
            """New parameters for 8x8 digits: He-normal weights (std ``sqrt(2 / fan_in)``), zero biases.

            Inputs:
            - seed: seeds ``np.random.default_rng``; draw ``w1``, ``w2``, ``w3`` in that order
            - dtype: float32 or float64
            - filters: ``(F1, F2)``, the filters of the two convolutions
            - kernel_size: ``K``, odd, for the ``K x K`` filters

            Returns a dict: ``w1 (F1, 1, K, K)``, ``b1 (F1,)``, ``w2 (F2, F1, K, K)``, ``b2 (F2,)``,
            ``w3 (D, 10)`` with ``D = F2 * 2 * 2``, ``b3 (10,)``. ``fan_in`` is ``C * KH * KW`` for a convolution,
            ``D`` for the dense layer.
            """
            dtype = np.dtype(dtype)
            if dtype not in (np.float32, np.float64):
                raise TypeError(f"dtype must be float32 or float64, got {dtype}")
            F1, F2 = (positive_int(f, "filters[i]") for f in filters)
            K = positive_int(kernel_size, "kernel_size")
            if K % 2 == 0:
                raise ValueError(f"kernel_size must be odd so that padding (k - 1) // 2 keeps the size, got {K}")
        ''', '''
        D = F2 * (8 // POOL // POOL) * (8 // POOL // POOL)      # 8x8 pooled twice -> 2x2 per filter
        shapes = {"w1": (F1, 1, K, K), "b1": (F1,), "w2": (F2, F1, K, K), "b2": (F2,),
                  "w3": (D, NUM_CLASSES), "b3": (NUM_CLASSES,)}
        rng = np.random.default_rng(seed)
        params = {}
        for key, shape in shapes.items():                       # w1, b1, w2, b2, w3, b3: the draw order matters
            if key.startswith("b"):
                params[key] = np.zeros(shape, dtype=dtype)
            else:
                fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
                params[key] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)
        return params
        '''),
    "cnn_forward": ('''
        def cnn_forward(params, x):
            """Class scores of the images ``x (N, 1, 8, 8)``, and the cache the backward pass needs.

            conv(w1, b1, pad K//2) -> ReLU -> max pool 2 -> conv(w2, b2, pad K//2) -> ReLU -> max pool 2
            -> flatten -> dense(w3, b3).

            Returns ``(logits, cache)``: ``logits (N, K)`` (no softmax: it is part of the loss) and a dict of every
            intermediate: ``x, z1, a1, p1, z2, a2, p2, f, logits``.
            """
            params = _check_params(params)
            x = _check_images(x, params)
        ''', '''
        w1, b1, w2, b2, w3, b3 = (params[k] for k in PARAM_KEYS)
        z1 = conv2d_forward(x, w1, b1, stride=1, pad=w1.shape[-1] // 2)    # "same" padding: 8x8 stays 8x8
        a1 = relu(z1)
        p1 = max_pool2d(a1, size=POOL)                                     # 8x8 -> 4x4
        z2 = conv2d_forward(p1, w2, b2, stride=1, pad=w2.shape[-1] // 2)
        a2 = relu(z2)
        p2 = max_pool2d(a2, size=POOL)                                     # 4x4 -> 2x2
        f = flatten(p2)
        logits = dense_forward(f, w3, b3)
        cache = {"x": x, "z1": z1, "a1": a1, "p1": p1, "z2": z2, "a2": a2, "p2": p2, "f": f, "logits": logits}
        return logits, cache
        '''),
    "cnn_backward": ('''
        def cnn_backward(params, cache, dlogits):
            """Gradients of a loss with respect to every parameter, given ``dlogits (N, K)`` and the forward cache.

            Returns a dict with the keys and shapes of ``params``.
            """
            params = _check_params(params)
            if not isinstance(cache, dict) or "logits" not in cache:
                raise TypeError("cache must be the dict returned by cnn_forward")
            dlogits = as_float_array(dlogits, "dlogits", 2, "(N, K)")
            if dlogits.shape != cache["logits"].shape:
                raise ValueError(f"dlogits must have the shape of the logits {cache['logits'].shape}, got {dlogits.shape}")
        ''', '''
        # The forward layers in reverse; each backward pass takes the gradient from above and that layer's input.
        pad1, pad2 = params["w1"].shape[-1] // 2, params["w2"].shape[-1] // 2
        df, dw3, db3 = dense_backward(dlogits, cache["f"], params["w3"])
        dp2 = flatten_backward(df, cache["p2"].shape)
        da2 = max_pool2d_backward(dp2, cache["a2"], size=POOL)
        dz2 = relu_backward(da2, cache["z2"])
        dp1, dw2, db2 = conv2d_backward(dz2, cache["p1"], params["w2"], stride=1, pad=pad2)
        da1 = max_pool2d_backward(dp1, cache["a1"], size=POOL)
        dz1 = relu_backward(da1, cache["z1"])
        _, dw1, db1 = conv2d_backward(dz1, cache["x"], params["w1"], stride=1, pad=pad1)   # dx unused: x is data
        return {"w1": dw1, "b1": db1, "w2": dw2, "b2": db2, "w3": dw3, "b3": db3}
        '''),
    "cnn_loss_and_grads": ('''
        def cnn_loss_and_grads(params, x, y):
            """Mean softmax cross-entropy of the labels ``y (N,)`` on the images ``x (N, 1, 8, 8)``, and its gradients.

            Returns ``(loss, grads)``: ``loss`` a Python float, ``grads`` a dict with the keys and shapes of ``params``.
            """
            params = _check_params(params)
            x = _check_images(x, params)
            y = _check_labels(y, x.shape[0], params["w3"].shape[1])
        ''', '''
        logits, cache = cnn_forward(params, x)
        loss = float(cross_entropy(logits, y))
        grads = cnn_backward(params, cache, softmax_cross_entropy_backward(logits, y))
        return loss, grads
        '''),
    "sgd_step": ('''
        def sgd_step(params, grads, lr):
            """One step of gradient descent: a NEW dict ``{k: params[k] - lr * grads[k]}`` (``params`` unchanged).

            Inputs: ``params`` and ``grads``, dicts with the keys and shapes of :func:`init_cnn`; ``lr`` > 0.
            Returns the new parameters, each in the dtype of ``params[k]``.
            """
            params = _check_params(params)
            grads = _check_params(grads, "grads")
            for k in PARAM_KEYS:
                if grads[k].shape != params[k].shape:
                    raise ValueError(f"grads[{k!r}] must have the shape of params[{k!r}] {params[k].shape}, "
                                     f"got {grads[k].shape}")
        ''', '''
        return {k: (params[k] - lr * grads[k]).astype(params[k].dtype) for k in PARAM_KEYS}
        '''),
    "train_cnn": ('''
        def train_cnn(x, y, epochs=15, lr=0.1, batch_size=32, seed=0, callback=None, *, dtype=np.float32,
                      params=None, validation=None):
            """Train the network on ``x (N, 1, 8, 8)``, ``y (N,)`` with mini-batch SGD on the mean cross-entropy.

            ``seed`` draws the initial parameters (``init_cnn(seed, dtype)``, unless ``params`` is given) and, from
            a second ``np.random.default_rng(seed)``, a fresh order of the examples every epoch. ``callback(epoch,
            params, history)`` runs after each epoch (``epoch`` counts from 1). ``validation=(x_val, y_val)`` adds
            the loss and accuracy on held-out images at the end of each epoch. Call ``check_finite(logits)`` on
            every batch: a run whose logits overflow stops there with ``FloatingPointError(DIVERGED_MESSAGE)``.

            Returns ``(params, history)``; ``history`` is a dict of per-epoch lists: ``loss`` and ``accuracy`` (the
            means over the epoch's batches), ``seconds``, and with ``validation`` also ``val_loss``, ``val_accuracy``.
            """
            epochs = positive_int(epochs, "epochs")
            batch_size = positive_int(batch_size, "batch_size")
            if not lr > 0:
                raise ValueError(f"lr must be > 0, got {lr!r}")
            if params is None:
                params = init_cnn(seed, dtype)
            params = {k: np.array(v, dtype=dtype) for k, v in _check_params(params).items()}
            x = _check_images(x, params)
            y = _check_labels(y, x.shape[0], params["w3"].shape[1])
        ''', '''
        rng = np.random.default_rng(seed)
        history = {"loss": [], "accuracy": [], "seconds": []}
        if validation is not None:
            history.update(val_loss=[], val_accuracy=[])
        for epoch in range(1, epochs + 1):
            start = time.perf_counter()
            order = rng.permutation(x.shape[0])            # a new shuffle every epoch
            loss_sum, correct = 0.0, 0
            for i in range(0, x.shape[0], batch_size):
                batch = order[i:i + batch_size]
                logits, cache = cnn_forward(params, x[batch])
                check_finite(logits)                           # stop a diverging run before the loss refuses it
                loss_sum += cross_entropy(logits, y[batch]) * batch.size
                correct += int(np.sum(np.argmax(logits, axis=1) == y[batch]))
                grads = cnn_backward(params, cache, softmax_cross_entropy_backward(logits, y[batch]))
                params = sgd_step(params, grads, lr)
            history["loss"].append(loss_sum / x.shape[0])
            history["accuracy"].append(correct / x.shape[0])
            history["seconds"].append(time.perf_counter() - start)
            if validation is not None:
                x_val, y_val = validation
                val_logits, _ = cnn_forward(params, x_val)
                history["val_loss"].append(float(cross_entropy(val_logits, y_val)))
                history["val_accuracy"].append(float(np.mean(np.argmax(val_logits, axis=1) == y_val)))
            if callback is not None:
                callback(epoch, params, history)
        return params, history
        '''),
    "predict": ('''
        def predict(params, x, batch_size=512):
            """The predicted class ``(N,)`` int64 of each image in ``x (N, 1, 8, 8)``: the argmax of its logits.

            Works through ``x`` in batches of ``batch_size`` so that memory stays bounded for any ``N``.
            """
            params = _check_params(params)
            x = _check_images(x, params)
            batch_size = positive_int(batch_size, "batch_size")
        ''', '''
        labels = [np.argmax(cnn_forward(params, x[i:i + batch_size])[0], axis=1)
                  for i in range(0, x.shape[0], batch_size)]
        return np.concatenate(labels).astype(np.int64) if labels else np.zeros(0, dtype=np.int64)
        '''),
}

FUNCTIONS = tuple(_CELLS)


def solutions() -> dict[str, nbformat.NotebookNode]:
    """``{function name: solution cell}`` in the notebook's order."""
    return {name: nb.solution_cell(name, header, body) for name, (header, body) in _CELLS.items()}


# avg_pool2d and its backward pass only serve the hyperparameter table (max against average pooling).
_FORWARD = ("conv2d_forward", "relu", "max_pool2d", "avg_pool2d", "flatten", "dense_forward", "cross_entropy")
_BACKWARD = ("numerical_gradient", "relu_backward", "dense_backward", "flatten_backward",
             "softmax_cross_entropy_backward", "max_pool2d_backward", "avg_pool2d_backward", "conv2d_backward")


def layer_paste_cells() -> list[nbformat.NotebookNode]:
    """The two cells where the student pastes their forward passes (assignments 1-2) and backward passes (3)."""
    forward = paste_cell("your_forward_layers", forward_functions(_FORWARD), """
        Your forward passes from assignments 1 (conv2d_forward) and 2 (relu, max_pool2d, avg_pool2d, flatten,
        dense_forward, cross_entropy): replace each function below with yours (keep the names and signatures).
        """)
    backward = paste_cell("your_backward_layers", backward_functions(_BACKWARD), """
        Your backward passes and numerical_gradient from assignment 3: replace each function below with yours.
        """)
    return [forward, backward]
