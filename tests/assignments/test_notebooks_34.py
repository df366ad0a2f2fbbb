"""The backprop and cnn notebooks: what test_notebooks.py does not cover for them.

Their extra solution cells (the layers the student pastes in, the ungraded network functions) hold solution code too,
so it is compared with the reference here; the cnn notebook needs its training digits beside it, trains in the time
the course promises, and, left as stubs, fails its checks with the stub message.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

import reference
from assignments.authoring import cnn as cnn_script
from autograder.build import STUDENT_DIR
from autograder.notebooks import stub_regions
from autograder.student import convkit_check as cc
from autograder.suites import freeze_public, points_by_function
from reference.cnn import init_cnn

NAMES = ("backprop", "cnn")
SOURCE = {name: Path(__file__).resolve().parents[2] / "assignments" / "source" / name / f"{name}.ipynb"
          for name in NAMES}
CELL_TIMEOUT_S = 180
TOL = 1e-10
# The cnn notebook reports its training (benchmarks/timings.py times it).
_TRAINED = re.compile(r"trained in ([0-9.]+) s")


def _namespace(name):
    namespace = cc.load_notebook(SOURCE[name])
    assert namespace[cc.CELL_ERRORS] == []
    return namespace


def _stage(name, dest):
    """The source notebook with what it reads beside it: public cases, convkit_check, the cnn's training digits."""
    shutil.copy2(SOURCE[name], dest / f"{name}.ipynb")
    shutil.copytree(STUDENT_DIR / "convkit_check", dest / "convkit_check", ignore=shutil.ignore_patterns("__pycache__"))
    freeze_public(name, dest)
    if name == "cnn":
        cnn_script.write_training_digits(dest)
    return dest / f"{name}.ipynb"


def _execute(book, cwd, allow_errors=False):
    from nbclient import NotebookClient

    NotebookClient(book, kernel_name="python3", timeout=CELL_TIMEOUT_S, allow_errors=allow_errors,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return book


def _text(cell):
    return "".join(o.get("text", "") + "".join(o.get("traceback", [])) + o.get("evalue", "") for o in cell.outputs)


def _stubbed(book):
    """The notebook as nbgrader releases it: every solution region replaced by the stub line."""
    book = nbformat.from_dict(book)
    for cell in book.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = stub_regions(cell.source)
    return book


_RNG = np.random.default_rng(34)
_X, _W, _B = _RNG.standard_normal((2, 3, 7, 6)), _RNG.standard_normal((4, 3, 3, 2)), _RNG.standard_normal(4)
_Z, _Y = _RNG.standard_normal((5, 4)) * 30, _RNG.integers(0, 4, 5)
PASTED_FORWARDS = [  # (function, args, kwargs): the pasted forward passes on shapes a CNN meets
    ("conv2d_forward", (_X, _W, _B), {}),
    ("conv2d_forward", (_X, _W, _B), {"stride": (2, 1), "pad": (1, 2)}),
    ("relu", (_X,), {}),
    ("max_pool2d", (_X,), {}),
    ("max_pool2d", (_X,), {"size": 3, "stride": 2}),
    ("avg_pool2d", (_X,), {"size": (2, 3), "stride": 1}),
    ("flatten", (_X,), {}),
    ("dense_forward", (_X.reshape(2, -1), _RNG.standard_normal((126, 5)), _B[:1].repeat(5)), {}),
    ("softmax", (_Z,), {}),
    ("cross_entropy", (_Z, _Y), {}),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("function, args, kwargs", PASTED_FORWARDS, ids=lambda v: v if isinstance(v, str) else "")
def test_pasted_forward_passes_equal_the_reference(name, function, args, kwargs):
    """Do the forward passes in the notebooks' paste cells compute what the reference computes?"""
    namespace = _namespace(name)
    if function not in namespace:
        pytest.skip(f"{name} does not paste {function}")
    got = namespace[function](*args, **kwargs)
    np.testing.assert_allclose(got, getattr(reference, function)(*args, **kwargs), rtol=TOL, atol=TOL)


@pytest.mark.parametrize("function", ["init_cnn", "cnn_forward", "sgd_step", "predict"])
def test_ungraded_network_functions_equal_the_reference(function):
    """Do the cnn notebook's network functions that no case grades still agree with reference/cnn.py?"""
    namespace = _namespace("cnn")
    params = init_cnn(3, np.float64, filters=(3, 4), kernel_size=3)
    x = _RNG.random((5, 1, 8, 8))
    if function == "init_cnn":
        got, want = namespace[function](3, np.float32), reference.init_cnn(3, np.float32)
    elif function == "cnn_forward":
        got, want = namespace[function](params, x)[1], reference.cnn_forward(params, x)[1]
    elif function == "sgd_step":
        grads = {k: _RNG.standard_normal(v.shape) for k, v in params.items()}
        got, want = namespace[function](params, grads, 0.1), reference.sgd_step(params, grads, 0.1)
    else:
        got, want = {"labels": namespace[function](params, x, 2)}, {"labels": reference.predict(params, x, 2)}
    assert got.keys() == want.keys()
    for key in want:
        assert got[key].dtype == want[key].dtype, key
        np.testing.assert_allclose(got[key], want[key], rtol=TOL, atol=TOL, err_msg=key)


def test_training_digits_are_the_training_part_only(tmp_path):
    """Does the data file hold the training digits in the promised layout, and not one held-out digit?"""
    x_train, y_train, x_test, _ = reference.load_digits_split()
    with np.load(cnn_script.write_training_digits(tmp_path)) as data:
        assert sorted(data.files) == ["x_train", "y_train"]
        np.testing.assert_array_equal(data["x_train"], x_train)
        np.testing.assert_array_equal(data["y_train"], y_train)
        assert data["x_train"].shape[1:] == (1, 8, 8) and 0 <= data["x_train"].min() <= data["x_train"].max() <= 1
    seen = {row.tobytes() for row in x_train.reshape(len(x_train), -1)}
    assert sum(row.tobytes() in seen for row in x_test.reshape(len(x_test), -1)) < len(x_test) // 20  # duplicates only


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_and_the_cnn_trains(name, tmp_path):
    """Does the source notebook run top to bottom, every check passing, and the cnn report its training?"""
    path = _stage(name, tmp_path)
    book = _execute(nbformat.read(path, as_version=4), tmp_path)
    checks = [c for c in book.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(checks) == len(points_by_function(name))
    for cell in checks:
        assert "public cases passed" in _text(cell) and "FAILED" not in _text(cell)
    text = "\n".join(_text(c) for c in book.cells if c.cell_type == "code")
    assert "MISMATCH" not in text and "implement " not in text
    if name == "cnn":
        assert _TRAINED.search(text), "the cnn notebook did not report its training"


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_stubbed_notebook_fails_its_checks_with_the_stub_message(name, tmp_path):
    """Left as stubs, does every check cell fail pointing at the stub, while the demos only explain?"""
    path = _stage(name, tmp_path)
    book = _execute(_stubbed(nbformat.read(path, as_version=4)), tmp_path, allow_errors=True)
    for cell in book.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            function = meta["grade_id"][:-len("_check")]
            assert cc.STUB_MESSAGE.format(function=function) in _text(cell), function
        elif cell.cell_type == "code":
            assert not any(o.output_type == "error" for o in cell.outputs), cell.source[:200]
