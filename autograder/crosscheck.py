"""The PyTorch cross-check of the reference as one job: here, or as a Dask task on a cluster's GPU worker.

``autograder crosscheck`` runs the reference's convolution, max pooling and softmax cross-entropy against
``torch.nn.functional`` (forward) and autograd (backward) on a few layers in float32 and float64, on torch's CUDA
device when the process that runs it has one (reference.torch_check.DEVICE), within the named tolerances
(torch_check.TOL). With ``--scheduler`` it is a task that needs the resource ``GPU``: only a worker started with
``dask worker ADDRESS --resources GPU=1`` takes it, and the report names that worker and its device. The tests in
tests/reference/ cross-check the whole grid; this is the check an instructor runs on the machine that has the GPU.
"""
from __future__ import annotations

import numpy as np

__all__ = ["run_crosscheck", "crosscheck_on", "GPU_RESOURCES", "NO_GPU_WORKER", "REPORT_LINE"]

GPU_RESOURCES = {"GPU": 1}
NO_GPU_WORKER = ("no worker of the scheduler {address} advertises a GPU: start one with `dask worker {address} "
                 "--nthreads 1 --resources GPU=1` on the machine that has it")
REPORT_LINE = "{op:<28} {shape:<26} {dtype:<8} max |diff| {error:.2e} (tolerance {tolerance:.0e}) {verdict}"
# (N, C, H, W), (F, KH, KW), stride, pad: a plain layer, an odd kernel with padding, a strided one.
_CONV = [((2, 3, 8, 8), (4, 3, 3), 1, 1), ((3, 2, 9, 7), (3, 5, 5), 1, 2), ((2, 3, 10, 10), (2, 3, 3), 2, 0)]
_POOL = [((2, 3, 8, 8), 2, 2), ((1, 2, 9, 9), 3, 2)]
_LOGITS = [(16, 10)]


def run_crosscheck() -> dict:
    """Every row: ``{op, shape, dtype, error, tolerance, ok}``; with the device torch ran on and this process."""
    import torch
    import torch.nn.functional as F

    from autograder.engines import worker_label
    from reference import (conv2d_backward, conv2d_forward, cross_entropy, max_pool2d, max_pool2d_backward,
                           softmax_cross_entropy_backward)
    from reference.torch_check import TOL, device_report, to_numpy, to_torch

    rows = []
    rng = np.random.default_rng(0)

    def grad(t) -> np.ndarray:
        assert t.grad is not None, "autograd gave no gradient"
        return to_numpy(t.grad)

    def compare(op, shape, got, want):
        rtol, atol = TOL[got.dtype]
        scale = max(1.0, float(np.max(np.abs(want))))
        error = float(np.max(np.abs(got - want))) if got.size else 0.0
        ok = got.shape == want.shape and bool(np.allclose(got, want, rtol=rtol, atol=atol * scale))
        rows.append({"op": op, "shape": shape, "dtype": got.dtype.name, "error": error,
                     "tolerance": atol * scale, "ok": ok})

    for dtype in (np.float32, np.float64):
        for (n, c, h, w), (f, kh, kw), stride, pad in _CONV:
            x, k, b = (rng.standard_normal(s).astype(dtype) for s in ((n, c, h, w), (f, c, kh, kw), (f,)))
            out = conv2d_forward(x, k, b, stride=stride, pad=pad)
            dout = rng.standard_normal(out.shape).astype(dtype)
            tx, tk, tb = (to_torch(a, requires_grad=True) for a in (x, k, b))
            t_out = F.conv2d(tx, tk, tb, stride=stride, padding=pad)
            t_out.backward(to_torch(dout))
            shape = f"N{n} C{c} {h}x{w} F{f} K{kh}x{kw} s{stride} p{pad}"
            compare("conv2d_forward", shape, out, to_numpy(t_out))
            for name, got, t in zip(("dx", "dw", "db"), conv2d_backward(dout, x, k, stride=stride, pad=pad),
                                    (tx, tk, tb), strict=True):
                compare(f"conv2d_backward {name}", shape, got, grad(t))
        for (n, c, h, w), size, stride in _POOL:
            x = rng.standard_normal((n, c, h, w)).astype(dtype)
            out = max_pool2d(x, size, stride)
            dout = rng.standard_normal(out.shape).astype(dtype)
            tx = to_torch(x, requires_grad=True)
            t_out = F.max_pool2d(tx, size, stride)
            t_out.backward(to_torch(dout))
            shape = f"N{n} C{c} {h}x{w} size {size} s{stride}"
            compare("max_pool2d", shape, out, to_numpy(t_out))
            compare("max_pool2d_backward", shape, max_pool2d_backward(dout, x, size, stride), grad(tx))
        for n, classes in _LOGITS:
            z, y = rng.standard_normal((n, classes)).astype(dtype), rng.integers(0, classes, n)
            tz = to_torch(z, requires_grad=True)
            loss = F.cross_entropy(tz, torch.from_numpy(y).to(tz.device))
            loss.backward()
            compare("cross_entropy", f"{n}x{classes}", np.asarray(cross_entropy(z, y), dtype=dtype),
                    np.asarray(to_numpy(loss), dtype=dtype))
            compare("softmax_cross_entropy_backward", f"{n}x{classes}", softmax_cross_entropy_backward(z, y),
                    grad(tz))
    return {"device": device_report(), "worker": worker_label(), "rows": rows, "ok": all(r["ok"] for r in rows)}


def crosscheck_on(scheduler: str, security=None) -> dict:
    """:func:`run_crosscheck` as a Dask task on a worker that advertises the ``GPU`` resource."""
    from distributed import Client

    from autograder.cluster import CONNECT_TIMEOUT_S, ClusterError

    with Client(scheduler, security=security, timeout=CONNECT_TIMEOUT_S) as client:
        workers = client.scheduler_info(n_workers=-1)["workers"].values()
        if not any(w.get("resources", {}).get("GPU", 0) >= 1 for w in workers):
            raise ClusterError(NO_GPU_WORKER.format(address=scheduler))
        return client.submit(run_crosscheck, resources=GPU_RESOURCES, pure=False).result()
