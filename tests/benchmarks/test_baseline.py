"""Does ``reference_vs_torch.py --baseline REV`` load the reference of another revision beside the working tree's,
computing with its own code, and refuse what is not a revision with a message that names it?"""
from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import _baseline  # noqa: E402

import reference.conv  # noqa: E402

# The last commit before the conv autotuner: its conv module has no _conv_plan.
BEFORE_AUTOTUNER = "343b5cf"


def _has_commit(rev: str) -> bool:
    done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
                          capture_output=True, check=False)
    return done.returncode == 0


needs_history = pytest.mark.skipif(not _has_commit(BEFORE_AUTOTUNER), reason="not a git clone with the history")


@needs_history
def test_an_old_revision_computes_with_its_own_code():
    commit, package = _baseline.load(BEFORE_AUTOTUNER, ROOT)
    assert package.__name__ == f"reference_{commit}" and commit.startswith(BEFORE_AUTOTUNER)
    old_conv = importlib.import_module(f"{package.__name__}.conv")
    assert Path(old_conv.__file__).parent != Path(reference.conv.__file__).parent
    # Its own imports resolve to itself, never to the working tree's package: the helpers conv calls are its own.
    for helper in (old_conv._gemm, old_conv._phase, old_conv._impl):
        assert helper.__name__.startswith(f"{package.__name__}."), helper.__name__
    assert not hasattr(old_conv, "_plan"), "the revision before the autotuner has no plan module"
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((4, 3, 9, 9)), rng.standard_normal((5, 3, 3, 3)), rng.standard_normal(5)
    np.testing.assert_allclose(old_conv.conv2d_forward(x, w, b, stride=2, pad=1),
                               reference.conv.conv2d_forward(x, w, b, stride=2, pad=1), rtol=1e-12, atol=1e-12)
    assert _baseline.load(BEFORE_AUTOTUNER, ROOT)[1] is package, "loaded once per process"


def test_a_name_that_is_no_revision_is_refused():
    with pytest.raises(_baseline.BaselineError, match="rev-parse"):
        _baseline.load("no-such-revision-xyz", ROOT)
