"""Timing helpers shared by the benchmarks: medians of interleaved repetitions.

Interleaving (a, b, a, b, ...) exposes every contender to the same drift of a shared machine (neighbours' load,
clock changes), which back-to-back blocks (a, a, a, b, b, b) do not; the median ignores the odd preempted sample.
"""
from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Callable

__all__ = ["interleaved_medians", "calls_per_sample"]

# A sample shorter than this is dominated by timer resolution and call overhead: fast calls are batched.
MIN_SAMPLE_S = 2e-3


def calls_per_sample(fn: Callable[[], object], min_sample_s: float = MIN_SAMPLE_S) -> int:
    """How many calls of ``fn`` make one sample of at least ``min_sample_s`` (one warm-up call included)."""
    fn()
    start = time.perf_counter()
    fn()
    once = time.perf_counter() - start
    return max(1, math.ceil(min_sample_s / max(once, 1e-9)))


def interleaved_medians(fns: dict[str, Callable[[], object]], reps: int = 15, warmup: int = 2,
                        min_sample_s: float = MIN_SAMPLE_S) -> dict[str, float]:
    """Median seconds per call of each function in ``fns``, from ``reps`` interleaved samples.

    Every function is first warmed up ``warmup`` times (caches, lazy initialisation, allocator), then each round
    times one sample of every function in turn; a sample is ``n`` back-to-back calls (``n`` from
    :func:`calls_per_sample`, per function) divided by ``n``.

    With three functions or more, each round after the first runs them in a new (seeded) random order: in a fixed
    order each always follows the same neighbour, whose memory traffic it inherits. Measured on the conv forward of
    N32 C3 32x32 K3 s2 float32 with two references and torch: whichever reference ran right after torch came out
    14-19% slower than the other, 2-3% in the other order. Two functions always alternate, symmetric already.
    """
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    numbers = {name: calls_per_sample(fn, min_sample_s) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    order = list(fns)
    shuffle = random.Random(0).shuffle
    for round_ in range(reps):
        if round_ and len(order) > 2:
            shuffle(order)
        for name in order:
            fn, n = fns[name], numbers[name]
            start = time.perf_counter()
            for _ in range(n):
                fn()
            samples[name].append((time.perf_counter() - start) / n)
    return {name: statistics.median(values) for name, values in samples.items()}
