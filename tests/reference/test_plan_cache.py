"""Is the autotuner's disk cache (reference._plan_cache) used when asked for, per machine, and does it refuse a
corrupted or hostile file cleanly (a warning, a fresh measurement, the right numbers, a valid file afterwards)?"""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from reference import _autotune, _conv_plan, _plan_cache
from reference.conv import conv2d_forward

LAYER = (16, 8, 12, 12, 8, 5)  # above MIN_WORK: timed unless a plan is known


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache file in tmp_path, named by CONVKIT_AUTOTUNE_CACHE; no plans in memory before or after."""
    for name in (_autotune.ENV_AUTOTUNE, _autotune.ENV_FORCE):
        monkeypatch.delenv(name, raising=False)
    where = tmp_path / "plans.json"
    monkeypatch.setenv(_plan_cache.ENV_CACHE, str(where))
    _autotune.clear()
    _plan_cache._LOADED.clear()
    yield where
    _autotune.clear()
    _plan_cache._LOADED.clear()


def _arrays(dtype=np.float32):
    n, c, h, w, f, k = LAYER
    rng = np.random.default_rng(0)
    return (rng.standard_normal((n, c, h, w)).astype(dtype), rng.standard_normal((f, c, k, k)).astype(dtype),
            rng.standard_normal(f).astype(dtype))


def _key(x, w):
    return _conv_plan._key("fwd", x, w, (1, 1), (2, 2))


def _new_process():
    """What a new process knows: no plans in memory, nothing read from the file yet."""
    _autotune.clear()
    _plan_cache._LOADED.clear()


def test_off_by_default_and_with_zero(monkeypatch):
    """Is there no cache file unless CONVKIT_AUTOTUNE_CACHE names one (unset, empty or 0: off)?"""
    for value in (None, "", "0"):
        if value is None:
            monkeypatch.delenv(_plan_cache.ENV_CACHE, raising=False)
        else:
            monkeypatch.setenv(_plan_cache.ENV_CACHE, value)
        assert _plan_cache.path() is None
    monkeypatch.setenv(_plan_cache.ENV_CACHE, "default")
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere")
    assert str(_plan_cache.path()) == "/somewhere/convkit/plans.json"


def test_a_plan_made_in_one_process_is_used_by_the_next(cache, monkeypatch):
    """After one process times a layer, does the next use the file's plan without timing?"""
    x, w, b = _arrays()
    want = conv2d_forward(x, w, b, pad=2)
    stored = json.loads(cache.read_text())
    assert stored["version"] == _plan_cache.VERSION
    name = stored["plans"][_plan_cache.fingerprint()][_key(x, w)]
    assert name in _conv_plan._forward_candidates((1, 1))
    _new_process()
    monkeypatch.setattr(_autotune, "_measure", lambda *a: pytest.fail("timed a layer the cache knows"))
    np.testing.assert_allclose(conv2d_forward(x, w, b, pad=2), want, rtol=1e-4, atol=1e-4)
    assert _conv_plan.chosen("fwd", x, w, (1, 1), (2, 2)).startswith("model:"), "file plans stay in the file"


def test_another_machines_plans_are_not_used(cache, monkeypatch):
    """Is a plan filed under another fingerprint (another CPU, another forced BLAS kernel family) ignored?"""
    x, w, b = _arrays()
    cache.write_text(json.dumps({"version": 1, "plans": {"another CPU|openblas=Haswell": {_key(x, w): "fft"}}}))
    measured = []
    real = _autotune._measure
    monkeypatch.setattr(_autotune, "_measure", lambda c, a: measured.append(1) or real(c, a))
    conv2d_forward(x, w, b, pad=2)
    assert measured == [1]
    machines = json.loads(cache.read_text())["plans"]
    assert set(machines) == {"another CPU|openblas=Haswell", _plan_cache.fingerprint()}, "both machines kept"


def _hostile_files(where):
    """(label, how to make it) for files the cache must refuse as a whole."""
    good_key = "fwd|float64|16x8x12x12|8x8x5x5|s1x1|p2x2"
    return [
        ("not-json", lambda: where.write_bytes(b"\x00\xff{not json")),
        ("truncated", lambda: where.write_text('{"version": 1, "plans": {')),
        ("wrong-version", lambda: where.write_text(json.dumps({"version": 99, "plans": {}}))),
        ("list", lambda: where.write_text("[1, 2, 3]")),
        ("extra-keys", lambda: where.write_text(json.dumps({"version": 1, "plans": {}, "run": "rm -rf /"}))),
        ("name-not-text", lambda: where.write_text(json.dumps(
            {"version": 1, "plans": {_plan_cache.fingerprint(): {good_key: {"__class__": "x"}}}}))),
        ("deep-nesting", lambda: where.write_text('{"version": 1, "plans": ' + "[" * 100_000 + "]" * 100_000 + "}")),
        ("too-big", lambda: where.write_text(" " * (_plan_cache.MAX_BYTES + 1))),
        ("folder", lambda: where.mkdir()),
        ("symlink", lambda: _link_to_plans(where, {good_key: "fft"})),
    ]


def _link_to_plans(where, table):
    """``where`` as a symbolic link to a valid plan file elsewhere: a link is refused even to good content."""
    target = where.parent / "elsewhere.json"
    target.write_text(json.dumps({"version": 1, "plans": {_plan_cache.fingerprint(): table}}))
    os.symlink(target, where)


@pytest.mark.parametrize("label", [label for label, _ in _hostile_files(None)])
def test_a_bad_cache_file_is_refused_cleanly(label, cache, monkeypatch):
    """Does a corrupted, oversized, linked or wrongly shaped file give one PlanCacheWarning, a fresh measurement and
    the right numbers, never an exception, and never trust what the file says?"""
    make = dict(_hostile_files(cache))[label]
    make()
    x, w, b = _arrays(np.float64)
    with _autotune.forced("rows"):
        want = conv2d_forward(x, w, b, pad=2)
    measured = []
    real = _autotune._measure
    monkeypatch.setattr(_autotune, "_measure", lambda c, a: measured.append(1) or real(c, a))
    with pytest.warns(_plan_cache.PlanCacheWarning) as record:
        got = conv2d_forward(x, w, b, pad=2)
    assert measured == [1], "a refused file must not supply a plan"
    assert all(str(cache) in str(r.message) and "rm -rf" not in str(r.message) for r in record)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10)
    if label == "symlink":
        target = json.loads((cache.parent / "elsewhere.json").read_text())
        assert list(target["plans"].values()) == [{_key(x, w): "fft"}], "the link's target is never written"
        assert not cache.is_symlink(), "the link was replaced by a plan file of our own"


def test_a_plan_naming_no_candidate_is_ignored(cache, monkeypatch):
    """Is a well-formed file whose plan names no candidate of the layer (a made-up or inapplicable name) ignored,
    the layer timed instead?"""
    x, w, b = _arrays()
    cache.write_text(json.dumps({"version": 1, "plans": {_plan_cache.fingerprint(): {_key(x, w): "phase-x4"}}}))
    measured = []
    real = _autotune._measure
    monkeypatch.setattr(_autotune, "_measure", lambda c, a: measured.append(1) or real(c, a))
    conv2d_forward(x, w, b, pad=2)
    assert measured == [1]
    assert _autotune.plans()[_key(x, w)] in _conv_plan._forward_candidates((1, 1))


def test_an_unwritable_cache_only_warns(tmp_path, monkeypatch):
    """When the cache folder cannot be made (a file is in the way), does the call still return, with a warning?"""
    (tmp_path / "blocker").write_text("")
    monkeypatch.setenv(_plan_cache.ENV_CACHE, str(tmp_path / "blocker" / "plans.json"))
    _new_process()
    x, w, b = _arrays()
    with pytest.warns(_plan_cache.PlanCacheWarning, match="cannot write"):
        out = conv2d_forward(x, w, b, pad=2)
    assert out.shape == (16, 8, 12, 12)
    _new_process()
