"""The cnn notebook's sanity checks and hyperparameter table, run as a student runs them: each demo cell of the real
notebook executed on the solution, and on solution functions broken the way students break them.

The cells run in the namespace of the notebook's own code (convkit_check's loader), after its picture helpers and its
data cell, so these tests read what a student reads, in seconds instead of the whole notebook's minutes.
"""
from __future__ import annotations

import contextlib
import io

import matplotlib
import nbformat
import numpy as np
import pytest

import reference.cnn as reference_cnn
from assignments.authoring import _cnn_checks as checks
from assignments.authoring import _cnn_tuning as tuning
from assignments.authoring import cnn as cnn_script
from assignments.authoring.nb import DEMO_TAG
from autograder.student import convkit_check as cc

matplotlib.use("Agg")
BOOK = nbformat.read(cnn_script.PATH, as_version=4)
DEMOS = [c.source for c in BOOK.cells if DEMO_TAG in c.metadata.get("tags", [])]


def _demo(marker: str) -> str:
    (source,) = [s for s in DEMOS if marker in s]
    return source


def _run(namespace: dict, marker: str) -> str:
    """Run the demo cell holding ``marker`` in the notebook's namespace; what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(_demo(marker), "<demo>", "exec"), namespace)
    return out.getvalue()


@pytest.fixture()
def notebook(tmp_path, monkeypatch):
    """The notebook's code (its solutions), its picture helpers and its data cell, run beside its training digits."""
    cnn_script.write_training_digits(tmp_path)
    monkeypatch.chdir(tmp_path)
    namespace = cc.load_notebook(cnn_script.PATH)
    assert namespace[cc.CELL_ERRORS] == []
    _run(namespace, "def picture(draw)")
    _run(namespace, "x_val, y_val = x_all[split[:n_val]]")
    yield namespace
    matplotlib.pyplot.close("all")


def test_the_notebook_and_the_reference_stop_a_diverging_run_with_one_message():
    """Is the message of the notebook's check_finite the reference's constant, and does the reference's loop stop
    with it when sgd_step climbs?"""
    (setup,) = [c.source for c in BOOK.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup"]
    assert "DIVERGED_MESSAGE = " + repr(reference_cnn.DIVERGED_MESSAGE) in setup
    x, y, _, _ = reference_cnn.load_digits_split()
    climbing = lambda params, grads, lr: {k: params[k] + lr * grads[k] for k in params}  # noqa: E731
    with pytest.MonkeyPatch.context() as patch, np.errstate(over="ignore", invalid="ignore"):
        patch.setattr(reference_cnn, "sgd_step", climbing)
        with pytest.raises(FloatingPointError, match=reference_cnn.DIVERGED_MESSAGE):
            reference_cnn.train_cnn(x[:320], y[:320], epochs=3, lr=0.1)


def test_the_divergence_cell_reports_the_uphill_run_and_restores_sgd_step(notebook):
    """Does the uphill run stop with the message, the lr-5 run show a dead network, and sgd_step come back?"""
    yours = notebook["sgd_step"]
    text = _run(notebook, "def uphill_step")
    assert "training stopped after " in text and reference_cnn.DIVERGED_MESSAGE in text
    assert "second-layer ReLU outputs above 0: 0.0%" in text
    assert notebook["sgd_step"] is yours


def test_the_divergence_cell_says_when_train_cnn_bypasses_sgd_step(notebook):
    """A loop that updates the weights itself cannot be made to climb: does the cell say so instead?"""
    def own_update(x, y, epochs=15, lr=0.1, **kwargs):
        return reference_cnn.init_cnn(0, np.float32), {"loss": [2.3] * epochs, "accuracy": [0.1] * epochs}

    notebook["train_cnn"] = own_update
    yours = notebook["sgd_step"]
    text = _run(notebook, "def uphill_step")
    assert checks.NO_SGD_STEP in text and notebook["sgd_step"] is yours


def test_the_gradient_check_names_the_right_and_the_wrong_parameters(notebook):
    """Does a cnn_backward whose first-layer gradients are off say which gradients are right, and where to look?"""
    # (On the solution it prints "wrong: none" and no MISMATCH: test_notebooks_34 runs the whole notebook.)
    good = notebook["cnn_backward"]

    def wrong_first_layer(params, cache, dlogits):
        grads = good(params, cache, dlogits)
        return {**grads, "w1": 2 * grads["w1"], "b1": np.zeros_like(grads["b1"])}

    notebook["cnn_backward"] = wrong_first_layer
    text = _run(notebook, "flows down")
    assert checks.GRADS_VERDICT.format(right="w3, b3, w2, b2", wrong="w1, b1") in text
    assert checks.GRADS_WHERE.format(last_right="b2", first_wrong="w1") in text
    assert text.count("MISMATCH") == 2


def test_the_init_check_passes_the_solution_and_flags_a_wrong_scale_and_random_biases(notebook):
    text = _run(notebook, "A check of init_cnn")
    assert text.count("OK") == 7 and "MISMATCH" not in text
    good = notebook["init_cnn"]

    def wrong(seed=0, dtype=np.float64, filters=(16, 36), kernel_size=5):
        params = good(seed, dtype, filters, kernel_size)
        return {**params, "w2": params["w2"] * np.sqrt(2.0), "b3": np.ones(10)}  # sqrt(4/fan_in), biases 1

    notebook["init_cnn"] = wrong
    text = _run(notebook, "A check of init_cnn")
    assert [line.split(":")[0] for line in text.splitlines() if line.endswith("MISMATCH")] == ["w2", "b3"]


def test_the_forward_and_loss_checks_pass_the_solution(notebook):
    text = _run(notebook, "A check of cnn_forward") + _run(notebook, "loss at initialisation")
    assert text.count("OK") == 10 and "MISMATCH" not in text


def test_the_overfit_check_memorises_50_digits_and_flags_a_network_that_cannot(notebook):
    text = _run(notebook, "class _Memorised")
    assert "all 50 training digits right after 12 epochs" in text
    notebook["sgd_step"] = lambda params, grads, lr: dict(params)  # a step that never moves
    assert checks.OVERFIT_MISSED.format(epochs=60) in _run(notebook, "class _Memorised")


@pytest.mark.parametrize("val_loss, expected", [([0.9, 0.5, 0.3], tuning.STILL_FALLING),
                                                ([0.9, 0.4, 0.6], tuning.RISING.format(best=2))])
def test_the_overfitting_cell_reads_the_validation_loss(notebook, val_loss, expected):
    notebook["need_training"] = lambda: True
    notebook["trained"] = reference_cnn.init_cnn(0, np.float32)
    notebook["history"] = {"loss": [1.0, 0.5, 0.2], "val_loss": val_loss}
    text = _run(notebook, "a gap of")
    assert expected in text and "after 3 epochs" in text


def test_the_hyperparameter_table_swaps_the_pooling_for_one_run_only(notebook):
    """Does the average-pooling row train with the student's avg_pool2d, and max pooling come back after it?"""
    calls = []
    avg = notebook["avg_pool2d"]
    notebook["avg_pool2d"] = lambda *a, **k: calls.append(1) or avg(*a, **k)
    yours = notebook["max_pool2d"]
    _run(notebook, "TABLE_EPOCHS = 5")
    notebook["TABLE_EPOCHS"], notebook["RUNS"] = 1, [((2, 3), 0.1, "max"), ((2, 3), 0.1, "average")]
    text = _run(notebook, "def train_variant")
    assert len(text.splitlines()) == 3 and "average" in text.splitlines()[2]
    assert calls and notebook["max_pool2d"] is yours
