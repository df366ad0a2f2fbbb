"""convkit's NumPy reference implementation: every function of the curriculum, vectorised, validated, and
cross-checked against PyTorch in tests/reference/.

``from reference import conv2d_forward`` works for every public name below; submodules are imported on first use
(PEP 562), so importing one function does not import the capstone's data loader.

Shape letters are the same everywhere (see :mod:`reference._checks`): N batch, C channels, H/W height/width,
F filters, KH/KW kernel size, H'/W' output size, D/M dense in/out features, K classes.
"""
from __future__ import annotations

import importlib

_WHERE = {
    "image": ("rgb_to_grayscale", "KERNELS"),
    "conv": ("zero_pad", "output_size", "receptive_field", "correlate2d", "convolve2d", "conv2d_forward",
             "conv2d_backward"),
    "layers": ("relu", "relu_backward", "flatten", "flatten_backward", "dense_forward", "dense_backward"),
    "pool": ("max_pool2d", "avg_pool2d", "sum_pool2d", "max_pool2d_backward", "avg_pool2d_backward",
             "sum_pool2d_backward"),
    "softmax_ce": ("softmax", "cross_entropy", "softmax_cross_entropy_backward"),
    "gradcheck": ("numerical_gradient",),
    "cnn": ("load_digits_split", "init_cnn", "cnn_forward", "cnn_loss_and_grads", "sgd_step", "train_cnn", "predict"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'reference' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"reference.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
