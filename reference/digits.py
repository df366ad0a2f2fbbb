"""The capstone's data: scikit-learn's 8x8 handwritten digits, split once into a training and a held-out part.

The data set ships inside scikit-learn (``sklearn.datasets.load_digits``: 1797 images of 8x8 pixels, 16 grey levels,
about 180 of each digit), so nothing is downloaded. The split is stratified (every digit keeps its share in both
parts) and depends only on ``seed`` and ``test_fraction``: the grader regenerates the same held-out part, which the
students never see, and scores their predictions on it.

Shapes use the glossary of :mod:`reference._checks`: images are ``(N, C, H, W)`` with ``C = 1``, ``H = W = 8``.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["NUM_CLASSES", "IMAGE_SHAPE", "PIXEL_MAX", "load_digits_split", "stratified_split"]

NUM_CLASSES = 10
IMAGE_SHAPE = (1, 8, 8)
# load_digits stores each pixel as a count of 0..16 set bits in a 4x4 block of the original 32x32 bitmap.
PIXEL_MAX = 16.0


def stratified_split(y, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train_idx, test_idx)`` of a stratified split of the labels ``y (N,)``.

    Each class ``c`` with ``n_c`` members sends ``round(n_c * test_fraction)`` of them (at least one, at most
    ``n_c - 1``) to the test part, chosen by a ``numpy.random.default_rng(seed)`` permutation; both index arrays
    are sorted, disjoint and together cover ``range(N)``. Own code rather than scikit-learn's
    ``train_test_split`` so the split cannot change with a scikit-learn release.
    """
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"y must be a non-empty array of shape (N,), got shape {y.shape}")
    if not isinstance(test_fraction, numbers.Real) or not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be a number in (0, 1), got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    test_parts = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        if members.size < 2:
            raise ValueError(f"y has only {members.size} example of class {label}: cannot split it")
        n_test = min(max(int(round(members.size * test_fraction)), 1), members.size - 1)
        test_parts.append(rng.permutation(members)[:n_test])
    test_idx = np.sort(np.concatenate(test_parts))
    train_mask = np.ones(y.size, dtype=bool)
    train_mask[test_idx] = False
    return np.flatnonzero(train_mask), test_idx


def load_digits_split(seed: int = 0, test_fraction: float = 0.2):
    """The 8x8 digits as ``(x_train, y_train, x_test, y_test)``, a fixed stratified split.

    Returns:
        x_train: ``(N_train, 1, 8, 8)`` float64 in [0, 1] (grey level / 16).
        y_train: ``(N_train,)`` int64 labels 0..9.
        x_test, y_test: the held-out part, same layout; with the defaults ``N_train = 1438``, ``N_test = 359``.
    """
    # Imported here: scikit-learn is an instructor-side dependency and takes about a second to import.
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (np.asarray(data.images, dtype=np.float64) / PIXEL_MAX).reshape(-1, *IMAGE_SHAPE)
    y = np.asarray(data.target, dtype=np.int64)
    train_idx, test_idx = stratified_split(y, test_fraction, seed)
    return x[train_idx], y[train_idx], x[test_idx], y[test_idx]
