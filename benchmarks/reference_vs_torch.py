"""Reference (NumPy) vs PyTorch CPU, one thread each: conv forward/backward, max pooling, softmax; then the capstone.

Run with ``make bench`` (which sets OPENBLAS_NUM_THREADS=1) or
``OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/reference_vs_torch.py [--quick] [--isa avx2]``
(``make bench ISA=avx2``: both sides limited to AVX2, as on the other x86 CPU family).
Prints a table of ``ratio = reference_s / torch_s`` (lower is better) against its floor, writes the rows to
``benchmarks/results/reference_vs_torch.json`` and the capstone's training time and accuracy to
``benchmarks/results/capstone.json``. A report, not a test: the exit code is 0 even when a floor fails.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

# One BLAS thread before NumPy loads, whatever the caller set: ratios are only comparable single-threaded.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
# ``--isa avx2`` runs both sides as on a CPU without AVX-512 (the other x86 family: AMD Zen 2/3, Intel before
# Skylake-SP): OpenBLAS's Haswell kernels for NumPy, and for torch its own kernels, oneDNN's and MKL's capped at
# AVX2. Each library reads its variable when it loads, so they are set here, before NumPy and torch are imported.
# NumPy's own loops (copies, ufuncs) dispatch on the CPU too: NPY_DISABLE_CPU_FEATURES keeps them at X86_V3 (AVX2).
ISA_ENV = {"avx2": {"OPENBLAS_CORETYPE": "Haswell", "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
                    "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}}


def _isa_argument(argv: list[str]) -> str | None:
    """The value of ``--isa`` in ``argv`` (``--isa NAME`` or ``--isa=NAME``), else None."""
    for i, arg in enumerate(argv):
        if arg == "--isa" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--isa="):
            return arg.split("=", 1)[1]
    return None


os.environ.update(ISA_ENV.get(_isa_argument(sys.argv[1:]) or "", {}))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _baseline import BaselineError  # noqa: E402
from _baseline import load as load_baseline  # noqa: E402
from _timing import interleaved_medians  # noqa: E402

from reference import _conv_plan, _plan_cache  # noqa: E402
from reference.conv import conv2d_backward, conv2d_forward  # noqa: E402
from reference.layers import relu  # noqa: E402
from reference.pool import max_pool2d, max_pool2d_backward  # noqa: E402
from reference.softmax_ce import softmax  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
DTYPES = (np.float32, np.float64)
# (label, N, C, H, W, F, K, stride, pad): (a) and (b) are the slides' 28x28 network's two conv layers.
CONV_SHAPES = [
    ("a N64 C1 28x28 F16 K5 p2", 64, 1, 28, 28, 16, 5, 1, 2),
    ("b N64 C16 14x14 F36 K5 p2", 64, 16, 14, 14, 36, 5, 1, 2),
    ("c N32 C3 32x32 F32 K3 p1 s2", 32, 3, 32, 32, 32, 3, 2, 1),
]
SOFTMAX_SHAPES = [(1024, 10), (64, 1000)]
POOL = 2
# Floors on reference_s / torch_s (issue 2): conv per dtype, the rest any dtype.
CONV_FLOOR = {np.dtype(np.float32): 1.5, np.dtype(np.float64): 1.0}
POOL_FLOOR = 1.0
SOFTMAX_FLOOR = 2.0
REPS = {"full": 15, "quick": 5}
BASELINE_MODULES = ("conv", "pool", "softmax_ce")


def _with_base(fns: dict, base, make) -> dict:
    """``fns`` plus ``"baseline": make(base)`` when a baseline revision is loaded (``base`` not None)."""
    return fns if base is None else {**fns, "baseline": make(base)}


def _conv_rows(rng, reps, base=None):
    for label, n, c, h, w, f, k, s, p in CONV_SHAPES:
        for dtype in DTYPES:
            x = rng.standard_normal((n, c, h, w)).astype(dtype)
            wt = (rng.standard_normal((f, c, k, k)) / np.sqrt(c * k * k)).astype(dtype)
            b = rng.standard_normal(f).astype(dtype)
            out = conv2d_forward(x, wt, b, stride=s, pad=p)
            dout = rng.standard_normal(out.shape).astype(dtype)
            tx, tw, tb, tdout = (torch.from_numpy(a) for a in (x, wt, b, dout))
            floor = CONV_FLOOR[np.dtype(dtype)]

            def torch_fwd():
                with torch.no_grad():
                    return F.conv2d(tx, tw, tb, stride=s, padding=p)

            # The backward kernel alone (dx, dw, db), as autograd would call it after a forward.
            def torch_bwd():
                return torch.ops.aten.convolution_backward(
                    tdout, tx, tw, [f], [s, s], [p, p], [1, 1], False, [0, 0], 1, [True, True, True])

            t = interleaved_medians(_with_base(
                {"reference": lambda: conv2d_forward(x, wt, b, stride=s, pad=p), "torch": torch_fwd}, base,
                lambda m: lambda: m.conv.conv2d_forward(x, wt, b, stride=s, pad=p)), reps)
            yield "conv2d_forward", label, dtype, floor, t, _conv_plan.chosen("fwd", x, wt, (s, s), (p, p))
            t = interleaved_medians(_with_base(
                {"reference": lambda: conv2d_backward(dout, x, wt, stride=s, pad=p), "torch": torch_bwd}, base,
                lambda m: lambda: m.conv.conv2d_backward(dout, x, wt, stride=s, pad=p)), reps)
            yield "conv2d_backward", label, dtype, floor, t, _conv_plan.chosen("bwd", x, wt, (s, s), (p, p))

            # Pooling runs on what the network pools: the ReLU of this conv output (ties at zero included).
            a = relu(out)
            da = rng.standard_normal((a.shape[0], a.shape[1], a.shape[2] // POOL, a.shape[3] // POOL)).astype(dtype)
            ta, tda = torch.from_numpy(a), torch.from_numpy(da)

            def ref_pool(pool=None):
                forward, backward = (max_pool2d, max_pool2d_backward) if pool is None else \
                    (pool.max_pool2d, pool.max_pool2d_backward)
                forward(a, size=POOL)
                return backward(da, a, size=POOL)

            def torch_pool():
                with torch.no_grad():
                    _, idx = torch.ops.aten.max_pool2d_with_indices(ta, [POOL, POOL], [POOL, POOL])
                    return torch.ops.aten.max_pool2d_with_indices_backward(
                        tda, ta, [POOL, POOL], [POOL, POOL], [0, 0], [1, 1], False, idx)

            pool_label = f"{label.split()[0]} N{a.shape[0]} C{a.shape[1]} {a.shape[2]}x{a.shape[3]} 2x2"
            yield "max_pool2d fwd+bwd", pool_label, dtype, POOL_FLOOR, interleaved_medians(_with_base(
                {"reference": ref_pool, "torch": torch_pool}, base, lambda m: lambda: ref_pool(m.pool)), reps), "-"


def _softmax_rows(rng, reps, base=None):
    for shape in SOFTMAX_SHAPES:
        for dtype in DTYPES:
            z = (3 * rng.standard_normal(shape)).astype(dtype)
            tz = torch.from_numpy(z)
            t = interleaved_medians(_with_base(
                {"reference": lambda: softmax(z), "torch": lambda: torch.softmax(tz, dim=-1), "exp": lambda: np.exp(z)},
                base, lambda m: lambda: m.softmax_ce.softmax(z)), reps)
            # NumPy's exp alone, against torch's whole softmax: what no NumPy softmax can beat. Its float64 loop is
            # vectorized only for AVX-512; below that it is scalar libm (about 6x slower), hence the column.
            note = f"np.exp alone {t['exp'] / t['torch']:.2f}"
            yield "softmax", f"{shape[0]}x{shape[1]}", dtype, SOFTMAX_FLOOR, t, note


def run_ops(reps: int, seed: int = 0, base=None) -> list[dict]:
    """Every row of the table as ``{op, shape, dtype, reference_s, torch_s, ratio, floor, algorithm}``, printed as
    it lands; ``algorithm`` is what the reference's autotuner picked for a conv row (reference._conv_plan), and for
    a softmax row the ratio of ``np.exp`` of the same logits alone to torch's softmax (a floor no NumPy softmax
    can beat). With ``base`` (:func:`baseline_modules`) each row also carries ``baseline_s``, that revision's
    reference timed in the same rounds, printed as its own ratio to torch and the reference's to it."""
    rng = np.random.default_rng(seed)
    rows = []
    print(f"{'op':<20} {'shape':<30} {'dtype':<8} {'reference':>11} {'torch':>11} {'ratio':>7} {'floor':>6}"
          + ("       baseline ref/base" if base else "") + "       algorithm")
    for op, shape, dtype, floor, t, algorithm in [*_conv_rows(rng, reps, base), *_softmax_rows(rng, reps, base)]:
        row = {"op": op, "shape": shape, "dtype": np.dtype(dtype).name, "reference_s": t["reference"],
               "torch_s": t["torch"], "ratio": t["reference"] / t["torch"], "floor": floor, "algorithm": algorithm}
        versus = ""
        if base is not None:
            row["baseline_s"] = t["baseline"]
            versus = f" {t['baseline'] / t['torch']:>7.2f} {t['reference'] / t['baseline']:>8.2f}"
        rows.append(row)
        verdict = "PASS" if row["ratio"] <= floor else "FAIL"
        print(f"{op:<20} {shape:<30} {row['dtype']:<8} {t['reference'] * 1e3:>9.3f}ms {t['torch'] * 1e3:>9.3f}ms "
              f"{row['ratio']:>7.2f} {floor:>6.1f} {verdict}{versus}  {algorithm}", flush=True)
    return rows


def baseline_modules(package) -> SimpleNamespace:
    """The modules of a baseline reference package (benchmarks/_baseline.py) that the rows call."""
    return SimpleNamespace(**{m: importlib.import_module(f"{package.__name__}.{m}") for m in BASELINE_MODULES})


def baseline_summary(rows: list[dict], commit: str) -> str:
    """One line: how many rows the baseline met, and the reference's time against it (median, slowest row)."""
    met = sum(r["baseline_s"] / r["torch_s"] <= r["floor"] for r in rows)
    speed = sorted((r["reference_s"] / r["baseline_s"], f"{r['op']} {r['shape'].split()[0]} {r['dtype']}")
                   for r in rows)
    return (f"BASELINE {commit}: {met} of {len(rows)} rows within their floor; reference/baseline median "
            f"{speed[len(speed) // 2][0]:.2f}, slowest row {speed[-1][0]:.2f} ({speed[-1][1]})")


def run_capstone(seed: int = 0) -> dict:
    """Train the capstone CNN with its defaults; seconds and held-out accuracy."""
    from reference.cnn import TRAINING_DEFAULTS, accuracy, load_digits_split, train_cnn

    x_train, y_train, x_test, y_test = load_digits_split()
    start = time.perf_counter()
    params, history = train_cnn(x_train, y_train, seed=seed)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "accuracy": accuracy(params, x_test, y_test), "epochs": len(history["loss"]),
            "train_size": int(y_train.size), "test_size": int(y_test.size), "seed": seed,
            "lr": TRAINING_DEFAULTS["lr"], "batch_size": TRAINING_DEFAULTS["batch_size"],
            "dtype": np.dtype(TRAINING_DEFAULTS["dtype"]).name, "threads": 1}


def _numpy_simd() -> str:
    """The highest SIMD target NumPy's own loops dispatch to on this CPU (X86_V3 is AVX2, X86_V4 AVX-512)."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:                                 # a NumPy without these internals: say so rather than guess
        return "unknown"
    enabled = [name for name in __cpu_dispatch__ if __cpu_features__.get(name)]
    return enabled[-1] if enabled else "baseline"


def _blas_kernel() -> str:
    """Which OpenBLAS kernels NumPy runs: OPENBLAS_CORETYPE forces a kernel family, unset lets OpenBLAS detect it."""
    from threadpoolctl import threadpool_info  # installed with scikit-learn (instructor side)

    info = [i for i in threadpool_info() if i.get("internal_api") == "openblas"]
    return f"OpenBLAS {info[0]['version']} {info[0]['architecture']} kernels" if info else "OpenBLAS not found"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{REPS['quick']} repetitions instead of {REPS['full']}")
    parser.add_argument("--no-capstone", action="store_true", help="skip the capstone training run")
    parser.add_argument("--isa", choices=sorted(ISA_ENV), help="run both sides as on a CPU with at most this "
                        "instruction set (avx2: as on AMD Zen 2/3 or Intel before AVX-512), on this machine")
    parser.add_argument("--baseline", metavar="REV", help="also time the reference as committed at git revision "
                        "REV in the same rounds (its ratio, and the reference's time against it)")
    args = parser.parse_args(argv)
    base = commit = None
    if args.baseline:
        try:
            commit, package = load_baseline(args.baseline, Path(__file__).resolve().parent.parent)
            base = baseline_modules(package)
        except (BaselineError, ImportError) as exc:
            parser.error(f"--baseline {args.baseline}: {exc}")
    torch.set_num_threads(1)
    # torch's convolutions run slow until one grad-enabled forward has happened in the process; warm that path so
    # torch is timed at its best, not flattered against.
    xg = torch.randn(2, 3, 8, 8, requires_grad=True)
    torch.nn.functional.conv2d(xg, torch.randn(4, 3, 3, 3)).sum().backward()
    reps = REPS["quick" if args.quick else "full"]
    print(f"CPU: {_plan_cache._cpu_model()}; reference autotuning "
          f"{'on' if os.environ.get('CONVKIT_AUTOTUNE', '1') != '0' else 'off (CONVKIT_AUTOTUNE=0)'}"
          + (f", forced {os.environ['CONVKIT_CONV_ALGO']}" if os.environ.get("CONVKIT_CONV_ALGO") else ""))
    print(f"reference vs torch {torch.__version__} CPU, 1 thread each, median of {reps} interleaved repetitions "
          f"(OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'autodetected')}; {_blas_kernel()}; "
          f"NumPy loops {_numpy_simd()}; torch kernels {torch.backends.cpu.get_cpu_capability()})")
    if commit is not None:
        print(f"baseline: the reference as committed at {commit} ({args.baseline}), timed in the same rounds")
    rows = run_ops(reps, base=base)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "reference_vs_torch.json").write_text(json.dumps(rows, indent=1) + "\n")
    failed = [r for r in rows if r["ratio"] > r["floor"]]
    print(f"SUMMARY: {len(rows) - len(failed)} of {len(rows)} rows within their floor"
          + (": FAIL " + "; ".join(f"{r['op']} {r['shape'].split()[0]} {r['dtype']} {r['ratio']:.2f} > {r['floor']}"
                                    for r in failed) if failed else ": all PASS"))
    if commit is not None:
        print(baseline_summary(rows, commit))
    print(f"wrote {RESULTS / 'reference_vs_torch.json'}")
    if not args.no_capstone:
        cap = run_capstone()
        (RESULTS / "capstone.json").write_text(json.dumps(cap, indent=1) + "\n")
        print(f"CAPSTONE: trained {cap['epochs']} epochs on {cap['train_size']} digits in {cap['seconds']:.1f} s "
              f"(1 thread, {cap['dtype']}), held-out accuracy {cap['accuracy']:.4f} on {cap['test_size']} digits")
    return 0


if __name__ == "__main__":
    sys.exit(main())
