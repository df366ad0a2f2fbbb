"""Helpers for cross-checking the reference against PyTorch (``torch.nn.functional`` forward, autograd backward).

Imported only by tests and benchmarks: torch is an instructor-side dependency and takes ~2 s to import.
The device is CUDA when ``torch.cuda.is_available()``, else the CPU; :func:`device_report` says which ran.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["DEVICE", "TOL", "device_report", "to_torch", "to_numpy", "assert_close"]

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")

# Named tolerances (rtol, atol) per dtype. float64 agrees with torch to ~1e-14 (FINDINGS.md); float32 sums of a
# few hundred products of O(1) values carry ~1e-6 relative error, and on CUDA TF32 is disabled below so the
# same bound holds there.
TOL = {
    np.dtype(np.float64): (1e-9, 1e-10),
    np.dtype(np.float32): (1e-4, 1e-4),
}

if DEVICE.type == "cuda":
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def device_report() -> str:
    """One line naming the device the cross-check runs on (printed in the test session header)."""
    if DEVICE.type == "cuda":
        return f"torch {torch.__version__} cross-check on CUDA: {torch.cuda.get_device_name(0)}"
    return f"torch {torch.__version__} cross-check on CPU (no CUDA device available)"


def to_torch(a: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
    """An ndarray as a tensor on :data:`DEVICE` with the same dtype."""
    t = torch.from_numpy(np.ascontiguousarray(a)).to(DEVICE)
    return t.requires_grad_(requires_grad) if requires_grad else t


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """A tensor back to an ndarray on the CPU."""
    return t.detach().cpu().numpy()


def assert_close(got: np.ndarray, want: np.ndarray, what: str, dtype=None) -> None:
    """Assert ``got`` matches ``want`` within :data:`TOL` for ``dtype`` (default: ``got``'s), naming ``what``."""
    dtype = np.dtype(dtype or got.dtype)
    rtol, atol = TOL[dtype]
    if got.shape != want.shape:
        raise AssertionError(f"{what}: shape {got.shape} != torch's {want.shape}")
    scale = max(1.0, float(np.max(np.abs(want))) if want.size else 1.0)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol * scale, err_msg=f"{what} differs from torch")
