"""Does the conv autotuner (reference._autotune, _conv_plan, _plan_cache) pick a real path, remember it, obey a
forced choice, refuse a bad cache file cleanly, and leave every graded case of the autograder untouched?

Each algorithm's numbers against torch are checked here for every candidate name (forced), on a layer large
enough to be timed; the finer grids per route are in test_conv_algorithms.py and test_conv_torch.py.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from reference import _autotune, _conv_plan, _plan_cache  # noqa: E402
from reference.conv import conv2d_backward, conv2d_forward  # noqa: E402
from reference.torch_check import TOL, assert_close, to_numpy, to_torch  # noqa: E402

DTYPES = [np.float32, np.float64]
# (N, C, H, W, F, K, stride, pad): both above MIN_WORK, so without a forced name they are timed.
TUNED_LAYERS = [(16, 8, 12, 12, 8, 5, 1, 2), (16, 8, 24, 24, 16, 3, 2, 1)]


@pytest.fixture(autouse=True)
def fresh_tuner(monkeypatch):
    """Every test starts with no plans, timing on, no forced name and no disk cache, and leaves no plans behind."""
    for name in (_autotune.ENV_AUTOTUNE, _autotune.ENV_FORCE, _plan_cache.ENV_CACHE):
        monkeypatch.delenv(name, raising=False)
    _autotune.clear()
    _plan_cache._LOADED.clear()
    yield
    _autotune.clear()
    _plan_cache._LOADED.clear()


def _layer(n, c, h, w, f, k, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = (rng.standard_normal((f, c, k, k)) / np.sqrt(c * k * k)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    return rng, x, wt, b


def _run(x, wt, b, stride, pad, dout):
    out = np.array(conv2d_forward(x, wt, b, stride=stride, pad=pad))
    return [out, *conv2d_backward(dout, x, wt, stride=stride, pad=pad)]


def _dout(rng, x, wt, stride, pad):
    with _autotune.forced("plain"):
        shape = conv2d_forward(x, wt, np.zeros(wt.shape[0], x.dtype), stride=stride, pad=pad).shape
    return rng.standard_normal(shape).astype(x.dtype)


def test_tuned_layers_are_above_the_timing_threshold():
    """Are the layers below big enough to be timed (else the tests of timing test the model choice)?"""
    for n, c, h, _, f, k, s, p in TUNED_LAYERS:
        ho = (h + 2 * p - k) // s + 1
        assert n * f * c * k * k * ho * ho >= _autotune.MIN_WORK


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", _conv_plan.KNOWN)
@pytest.mark.parametrize("layer", TUNED_LAYERS, ids=["stride1", "stride2"])
def test_every_forced_algorithm_matches_torch(layer, name, dtype):
    """Does each algorithm, forced by name, give torch's output and gradients (or the model's, where it does not
    apply to this layer)?"""
    n, c, h, w, f, k, s, p = layer
    rng, x, wt, b = _layer(n, c, h, w, f, k, dtype)
    dout = _dout(rng, x, wt, s, p)
    tx, tw, tb = (to_torch(a, requires_grad=True) for a in (x, wt, b))
    t_out = F.conv2d(tx, tw, tb, stride=s, padding=p)
    t_out.backward(to_torch(dout))
    want = [to_numpy(t) for t in (t_out, tx.grad, tw.grad, tb.grad)]
    with _autotune.forced(name):
        got = _run(x, wt, b, s, p, dout)
    for what, g, t in zip(("out", "dx", "dw", "db"), got, want, strict=True):
        assert g.dtype == x.dtype, f"{name} {what}: dtype {g.dtype}"
        assert_close(g, t, f"{name} {what}")
    assert _autotune.plans() == {}, "a forced call must not time or record a plan"


@pytest.mark.parametrize("layer", TUNED_LAYERS, ids=["stride1", "stride2"])
def test_tuner_picks_an_existing_path_once(layer, monkeypatch):
    """Is a layer timed on its first call only, and is the plan one of its own candidates?"""
    n, c, h, w, f, k, s, p = layer
    rng, x, wt, b = _layer(n, c, h, w, f, k, np.float32)
    dout = _dout(rng, x, wt, s, p)
    measured = []
    real = _autotune._measure
    monkeypatch.setattr(_autotune, "_measure", lambda cands, args: measured.append(sorted(cands)) or real(cands, args))
    first = _run(x, wt, b, s, p, dout)
    second = _run(x, wt, b, s, p, dout)
    assert len(measured) == 2, "one measurement for the forward, one for the backward, none on the second call"
    plans = _autotune.plans()
    assert len(plans) == 2
    fwd = _conv_plan._forward_candidates((s, s))
    bwd = _conv_plan._backward_candidates((s, s))
    assert _conv_plan.chosen("fwd", x, wt, (s, s), (p, p)) in fwd
    assert _conv_plan.chosen("bwd", x, wt, (s, s), (p, p)) in bwd
    assert "plain" not in measured[0] + measured[1], "the plain version is for reading, never timed"
    for a, b2 in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b2)


def _busy(seconds: float, calls: list):
    """A candidate that takes ``seconds`` per call (a busy wait on the clock) and counts its calls."""
    def run():
        calls.append(1)
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass
        return seconds
    return run


def test_measure_spends_its_extra_rounds_on_contenders():
    """After RUNS rounds of every candidate, do only those within CONTENDER of the best run MORE_RUNS more (one ten
    times slower stops), does a lone contender end the timing early, and is the fastest one's own result returned?"""
    calls: dict[str, list] = {"a": [], "b": [], "slow": []}
    cands = {"a": _busy(1.0e-3, calls["a"]), "b": _busy(1.1e-3, calls["b"]), "slow": _busy(1.0e-2, calls["slow"])}
    assert _autotune._measure(cands, ()) == ("a", 1.0e-3)
    rounds = 1 + _autotune.RUNS                                         # the warm-up, then the timed rounds
    assert len(calls["slow"]) == rounds
    assert len(calls["a"]) == len(calls["b"]) == rounds + _autotune.MORE_RUNS
    calls = {"a": [], "slow": []}
    assert _autotune._measure({"a": _busy(1.0e-3, calls["a"]), "slow": _busy(1.0e-2, calls["slow"])}, ())[0] == "a"
    assert len(calls["a"]) == len(calls["slow"]) == rounds


def test_a_settled_choice_is_reused_and_follows_the_settings(monkeypatch):
    """Once a layer's choice is settled, does the next call reuse it without rebuilding anything, and does a change
    of CONVKIT_CONV_ALGO (or clearing the plans) take effect on the next call instead of the settled choice?"""
    n, c, h, w, f, k, s, p = TUNED_LAYERS[1]
    rng, x, wt, b = _layer(n, c, h, w, f, k, np.float64)
    problem = ("fwd", x.dtype, x.shape, wt.shape, (s, s), (p, p))
    code = {name: getattr(fn, "__code__", None) for name, fn in _conv_plan._forward_candidates((s, s)).items()}
    conv2d_forward(x, wt, b, stride=s, pad=p)                              # timed: settles nothing yet
    assert _autotune.fast(problem) is None
    want = conv2d_forward(x, wt, b, stride=s, pad=p)                       # the plan: settled for the next call
    settled = _autotune.fast(problem)
    assert settled is not None
    assert getattr(settled, "__code__", None) == code[_conv_plan.chosen("fwd", x, wt, (s, s), (p, p))]
    with monkeypatch.context() as patch:
        patch.setattr(_conv_plan, "_forward_candidates", lambda stride: pytest.fail("rebuilt a settled choice"))
        np.testing.assert_array_equal(conv2d_forward(x, wt, b, stride=s, pad=p), want)
    monkeypatch.setenv(_autotune.ENV_FORCE, "im2col")
    assert _autotune.fast(problem) is None, "another setting: the settled choice does not apply"
    conv2d_forward(x, wt, b, stride=s, pad=p)
    assert _autotune.fast(problem).__code__ is code["im2col"]
    monkeypatch.delenv(_autotune.ENV_FORCE)
    _autotune.clear()
    assert _autotune.fast(problem) is None


def test_small_layers_and_timing_off_take_the_model_choice(monkeypatch):
    """Below MIN_WORK, and for any layer with CONVKIT_AUTOTUNE=0, is nothing timed and the model's route run?"""
    monkeypatch.setattr(_autotune, "_measure", lambda *a: pytest.fail("timed a call that must not be timed"))
    rng, x, wt, b = _layer(2, 2, 6, 6, 3, 3, np.float64)
    _run(x, wt, b, 1, 1, _dout(rng, x, wt, 1, 1))
    monkeypatch.setenv(_autotune.ENV_AUTOTUNE, "0")
    n, c, h, w, f, k, s, p = TUNED_LAYERS[0]
    rng, x, wt, b = _layer(n, c, h, w, f, k, np.float64)
    _run(x, wt, b, s, p, _dout(rng, x, wt, s, p))
    assert _autotune.plans() == {}
    assert _conv_plan.chosen("fwd", x, wt, (s, s), (p, p)).startswith("model:")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_forcing_by_environment_gives_the_same_numbers(dtype, monkeypatch):
    """Do CONVKIT_CONV_ALGO=fft and =rows (and the tuner's own pick) agree within the named tolerance?"""
    n, c, h, w, f, k, s, p = TUNED_LAYERS[0]
    rng, x, wt, b = _layer(n, c, h, w, f, k, dtype)
    dout = _dout(rng, x, wt, s, p)
    results = {}
    for name in ("fft", "rows", "strided-x4", ""):
        monkeypatch.setenv(_autotune.ENV_FORCE, name)
        results[name or "tuned"] = _run(x, wt, b, s, p, dout)
    rtol, atol = TOL[np.dtype(dtype)]
    for name, got in results.items():
        for what, g, r in zip(("out", "dx", "dw", "db"), got, results["rows"], strict=True):
            np.testing.assert_allclose(g, r, rtol=rtol, atol=atol * max(1.0, np.abs(r).max()),
                                       err_msg=f"{name} {what} vs rows")


def test_an_unknown_forced_name_is_refused(monkeypatch):
    """Does a misspelt CONVKIT_CONV_ALGO raise a ValueError that names it and the valid names?"""
    monkeypatch.setenv(_autotune.ENV_FORCE, "winograd")
    rng, x, wt, b = _layer(2, 2, 6, 6, 3, 3, np.float64)
    want = _autotune.UNKNOWN_ALGORITHM.format(env=_autotune.ENV_FORCE, name="winograd",
                                              known=", ".join(_conv_plan.KNOWN))
    with pytest.raises(ValueError) as info:
        conv2d_forward(x, wt, b, pad=1)
    assert str(info.value) == want


GRADED = ("convolution", "backprop", "cnn")


def test_no_graded_case_is_timed(monkeypatch):
    """Are the expected values of every graded case (and of every known mistake) computed without any timing, so
    they are a deterministic function of the case whichever CPU grades?"""
    suites = pytest.importorskip("autograder.suites")
    monkeypatch.setattr(_autotune, "_measure", lambda *a: pytest.fail("a graded case was timed"))
    for name in GRADED:
        cases = [suites._complete(name, c) for c in suites.assignment(name).cases()]
        assert cases
    assert _autotune.plans() == {}


# How far inside a graded case's tolerance every algorithm stays: float64 round-off is ~1e-15, far below; the FFT's
# float32 round-off (transforms of ~30 terms) reaches ~2e-6 on values of ~6, a fifth of the float32 tolerance.
MARGIN = {np.dtype(np.float64): 100, np.dtype(np.float32): 4}


@pytest.mark.parametrize("function", ["conv2d_forward", "conv2d_backward"])
def test_graded_conv_cases_agree_on_every_algorithm(function):
    """Even forced onto any algorithm, does each graded conv case give its expected value well within the case's
    own tolerance (MARGIN), so no choice of algorithm could change a grade?"""
    suites = pytest.importorskip("autograder.suites")
    cases = [c for name in ("convolution", "backprop") for c in suites.cases_for(name)
             if c.function == function and c.kind == "array"]
    assert cases
    fn = conv2d_forward if function == "conv2d_forward" else conv2d_backward
    for c in cases:
        want = c.expected if isinstance(c.expected, tuple) else (c.expected,)
        for name in _conv_plan.KNOWN:
            with _autotune.forced(name):
                got = fn(*c.args, **c.kwargs)
            for g, e in zip(got if isinstance(got, tuple) else (got,), want, strict=True):
                margin = MARGIN[g.dtype]
                np.testing.assert_allclose(g, e, rtol=c.rtol / margin, atol=c.atol / margin,
                                           err_msg=f"{function}/{c.case_id} with {name}")
