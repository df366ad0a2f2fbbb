"""Session-wide test setup: which device the PyTorch cross-check ran on, shared fixtures."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "seeds"

# One BLAS thread per process: the suite runs under pytest-xdist on 2 cores, and sandbox workers need it too.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_report_header(config):
    try:
        from reference.torch_check import device_report
    except Exception as exc:  # torch missing is reported, not hidden
        return f"torch cross-check unavailable: {exc}"
    return device_report()


@pytest.fixture
def rng():
    """A seeded generator: every random case is reproducible."""
    import numpy as np

    return np.random.default_rng(20261121)
