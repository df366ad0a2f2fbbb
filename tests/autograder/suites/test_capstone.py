"""Is the capstone's accuracy earned by a CNN, on digits the student's code can neither read nor match exactly?

Invariant 7: held-out data is nothing the worker can read or reconstruct. Three layers, each tested on its own:
the worker cannot read scikit-learn's copy of the digits (every isolation mode); the held-out digits it is shown go
through a transform drawn from a secret of the grading run; and the grader measures the accuracy with the
reference forward pass on the parameters ``train_cnn`` returns, the student's ``predict`` only having to agree
with it (autograder/capstone.py). The scorer is tested in-process on the reference and on cheating stand-ins;
real cnn notebooks (the source notebook's solution, and that solution with one cheat each) are graded through the
sandbox.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import capstone
from autograder.build import SOURCE_ROOT
from autograder.grading import HIDDEN_OUTPUT, grade_submission
from autograder.notebooks import replace_region, without_delimiters
from autograder.sandbox import Limits, Sandbox, StudentError
from autograder.sandbox.layers import _inside, _readable_roots, bwrap_path, hidden_data_dirs
from autograder.student import convkit_check as cc
from autograder.submissions import Submission
from autograder.suites import cases_for
from reference.cnn import init_cnn
from reference.cnn import predict as reference_predict
from reference.cnn import train_cnn as reference_train
from reference.digits import PIXEL_MAX

NOTEBOOK = SOURCE_ROOT / "cnn" / "cnn.ipynb"
MODES = ["bwrap", "plain"]
# The reference network's accuracy may move this much under the secret transform (measured: -0.6 to +0.3 points).
TRANSFORM_TOLERANCE = 0.02
DRAWS = 5


def _case(case_id: str) -> cc.Case:
    (found,) = [c for c in cases_for("cnn") if c.case_id == case_id]
    return found


HELD_OUT, VALIDATION = "held-out-accuracy", "validation-accuracy"


@pytest.fixture(scope="module")
def trained():
    """The reference network trained as the grader trains (the held-out case's inputs and budget), float32."""
    c = _case(HELD_OUT)
    return reference_train(*c.args, **c.kwargs)[0]


@pytest.fixture(scope="module")
def raw_digits():
    """Every digit of scikit-learn's copy, as the notebook's data holds them (grey level / 16)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return (np.asarray(data.images, dtype=np.float64) / PIXEL_MAX).reshape(-1, 1, 8, 8), data.target


def _score(case, train_cnn, predict):
    """run_case in this (the grader's) process, ``predict`` seeing what the scorer sends it."""
    namespace = {"train_cnn": train_cnn, "predict": predict}
    return cc.run_case(case, lambda name, args, kwargs: cc.call_in_namespace(namespace, name, args, kwargs))


def _recording_predict(seen: list):
    def predict(params, *args, **kwargs):
        seen.append((args, kwargs))
        return reference_predict(params, *args, **kwargs)
    return predict


def _nearest_neighbour():
    """A train_cnn that stores the digits and returns untrained (but CNN-shaped) weights, and a 1-NN predict."""
    memory = {}

    def train_cnn(x, y, **kwargs):
        memory.update(x=x.reshape(len(x), -1).astype(np.float64), y=np.asarray(y))
        return init_cnn(0, np.float32), {}

    def predict(params, x):
        flat = x.reshape(len(x), -1).astype(np.float64)
        d = (flat ** 2).sum(1)[:, None] - 2 * flat @ memory["x"].T + (memory["x"] ** 2).sum(1)[None]
        return memory["y"][d.argmin(axis=1)]
    return train_cnn, predict


# ----------------------------------------------------------------------------------------- (a) nothing to read
def test_the_digits_exist_on_the_grader_and_are_hidden():
    """Is scikit-learn's digits file found (so the tests below can fail), and left out of Landlock's allow-list?"""
    hidden = hidden_data_dirs()
    assert any(os.path.isfile(os.path.join(d, "digits.csv.gz")) for d in hidden)
    dirs, files = _readable_roots()
    granted = [os.path.realpath(p) for p in dirs + files]  # Landlock opens a granted path through its symlinks
    for h in map(os.path.realpath, hidden):
        assert not [p for p in granted if _inside(h, p) or _inside(p, h)]
    assert any(_inside(p, os.path.dirname(os.path.realpath(hidden[0]))) for p in granted)  # its siblings stay


_READERS = """
def by_loader():
    from sklearn.datasets import load_digits
    return int(load_digits().images.shape[0])

def by_path(path):
    with open(path, "rb") as fh:
        return len(fh.read())
"""


@pytest.mark.parametrize("mode", MODES)
def test_the_worker_reads_no_digits(mode):
    """Inside the sandbox, do load_digits() and opening the csv.gz by path both fail, while the file's sibling
    folder (the data sets' descriptions) stays readable?"""
    if mode == "bwrap" and bwrap_path() is None:
        pytest.skip("bubblewrap is not installed or cannot create namespaces on this machine")
    data_dir = hidden_data_dirs()[0]
    description = os.path.join(os.path.dirname(data_dir), "descr", "digits.rst")
    with Sandbox(_READERS, limits=Limits(use_bwrap=mode == "bwrap", call_timeout_s=60)) as sb:
        for name, args in (("by_loader", []), ("by_path", [os.path.join(data_dir, "digits.csv.gz")])):
            with pytest.raises(StudentError):
                sb.call(name, args=args)
        assert sb.call("by_path", args=[description]) == Path(description).stat().st_size


# ----------------------------------------------------------------------------------------- (b) nothing to match
def test_the_held_out_digits_reach_predict_only_transformed(trained, raw_digits):
    """Does predict see the held-out digits reordered and changed so that none equals a raw digit, even rounded
    back to the 17 grey levels, a new draw at each grading, and nothing else (no secret, no options)?"""
    case = _case(HELD_OUT)
    seen: list = []
    for _ in range(2):
        assert _score(case, lambda *a, **k: (trained, {}), _recording_predict(seen)).points == case.points
    (first, kw1), (second, kw2) = seen
    assert len(first) == len(second) == 1 and kw1 == kw2 == {}
    raw = raw_digits[0].reshape(len(raw_digits[0]), -1)
    known = {row.astype(np.float32).tobytes() for row in raw} | {row.tobytes() for row in raw}
    for shown in (first[0], second[0]):
        assert shown.shape == case.data["x"].shape and shown.dtype == case.data["x"].dtype
        flat = shown.reshape(len(shown), -1)
        assert not {row.tobytes() for row in flat} & known
        rounded = np.round(flat.astype(np.float64) * PIXEL_MAX) / PIXEL_MAX
        assert not {row.tobytes() for row in rounded} & {row.tobytes() for row in raw}
    assert not np.array_equal(first[0], second[0])


def test_the_public_case_shows_predict_its_digits_unchanged(trained):
    """Does the validation case (public: the self-check scores the same images) reach predict as it is frozen?"""
    case = _case(VALIDATION)
    seen: list = []
    _score(case, lambda *a, **k: (trained, {}), _recording_predict(seen))
    np.testing.assert_array_equal(seen[0][0][0], case.data["x"])


def test_the_transform_keeps_the_labels(trained):
    """On transformed held-out digits, does the reference network keep its accuracy within 2 points, and does a
    float32 forward pass (an honest student's) agree with the grader's float64 one?"""
    case = _case(HELD_OUT)
    x, y = case.data["x"], case.data["y"]
    plain = np.mean(reference_predict(trained, x) == y)
    rng = np.random.default_rng(8)
    for _ in range(DRAWS):
        shown, order = capstone.secret_transform(x, rng)
        ours = reference_predict({k: v.astype(np.float64) for k, v in trained.items()}, shown)
        assert abs(np.mean(ours == y[order]) - plain) <= TRANSFORM_TOLERANCE
        assert np.mean(reference_predict(trained, shown) == ours) >= capstone.AGREEMENT


# ----------------------------------------------------------------------------------------- (c) earned by a CNN
def test_a_nearest_neighbour_fools_the_self_check_but_not_the_grader():
    """The attack is real: the shipped scorer pays a 1-NN predict in full. Does the grader's pay nothing, naming
    the reason?"""
    case = _case(HELD_OUT)
    namespace = dict(zip(("train_cnn", "predict"), _nearest_neighbour(), strict=True))
    shipped, _, _ = cc._score_accuracy(case, lambda n, a, k: cc.call_in_namespace(namespace, n, a, k))
    assert shipped == case.points
    result = _score(case, *_nearest_neighbour())
    assert (result.points, result.diagnoses) == (0.0, (capstone.DISAGREES,))


def test_predict_agreeing_with_the_network_keeps_the_networks_score(trained):
    """Does a predict that differs from the network on 3% of the digits still earn the network's points, and one
    that differs on 10% none?"""
    case = _case(HELD_OUT)

    def predict_changing(share):
        def predict(params, x):
            labels = reference_predict(params, x)
            flip = np.arange(len(labels)) < int(share * len(labels))
            return np.where(flip, (labels + 1) % 10, labels)
        return predict

    assert _score(case, lambda *a, **k: (trained, {}), predict_changing(0.03)).points == case.points
    result = _score(case, lambda *a, **k: (trained, {}), predict_changing(0.10))
    assert (result.points, result.diagnoses) == (0.0, (capstone.DISAGREES,))
    n = len(case.data["y"])
    assert capstone.DISAGREE_MESSAGE.format(agree=n - int(0.10 * n), n=n, need=capstone.AGREEMENT) in result.message


def test_float64_parameters_and_extra_keys_are_accepted(trained):
    """Are float64 weights, a bare dict (no history) and extra keys the network's parameters all the same?"""
    case = _case(HELD_OUT)
    params = {**{k: v.astype(np.float64) for k, v in trained.items()}, "velocity": np.zeros(3)}
    assert _score(case, lambda *a, **k: params, reference_predict).points == case.points


@pytest.mark.parametrize("answer, message, diagnosis", [
    pytest.param(lambda p: [p["w1"], p["b1"]], capstone.PARAMS_TYPE_MESSAGE.format(
        got="list", keys=["w1", "b1", "w2", "b2", "w3", "b3"]), capstone.NOT_A_CNN, id="a-list"),
    pytest.param(lambda p: {"x": np.zeros((5, 64)), "y": np.zeros(5, dtype=int)}, capstone.PARAMS_KEYS_MESSAGE.format(
        missing=["w1", "b1", "w2", "b2", "w3", "b3"], keys=["w1", "b1", "w2", "b2", "w3", "b3"]), capstone.NOT_A_CNN,
        id="the-training-digits"),
    pytest.param(lambda p: init_cnn(0, np.float32, filters=(4, 6)), capstone.PARAMS_SHAPE_MESSAGE.format(
        key="w1", expected=(16, 1, 5, 5), got="(4, 1, 5, 5) float32"), capstone.NOT_A_CNN, id="a-smaller-network"),
    pytest.param(lambda p: {**p, "w3": p["w3"].astype(np.float16)}, capstone.PARAMS_SHAPE_MESSAGE.format(
        key="w3", expected=(144, 10), got="(144, 10) float16"), capstone.NOT_A_CNN, id="float16"),
    pytest.param(lambda p: {**p, "b2": np.full(36, np.nan, np.float32)},
                 capstone.DIVERGED_MESSAGE.format(key="b2"), capstone.DIVERGED, id="nan"),
])
def test_an_answer_that_is_not_the_network_earns_nothing(trained, answer, message, diagnosis):
    """Does train_cnn's answer other than the network's parameters earn 0 before predict is called, with the
    named reason?"""
    case = _case(VALIDATION)

    def predict(params, x):
        raise AssertionError("predict must not be called")
    result = _score(case, lambda *a, **k: answer(trained), predict)
    assert (result.points, result.status, result.diagnoses) == (0.0, "failed", (diagnosis,))
    assert message in result.message
    assert diagnosis in case.explanations


# ----------------------------------------------------------------------------------------- real notebooks
def _notebook(**bodies) -> nbformat.NotebookNode:
    """The source notebook with the solution region of each function in ``bodies`` replaced (``"cell:"`` first:
    the whole cell)."""
    book = nbformat.read(str(NOTEBOOK), as_version=4)
    for function, body in bodies.items():
        (cell,) = [c for c in book.cells if c.metadata.get("nbgrader", {}).get("grade_id") == f"{function}_solution"]
        if body.startswith("cell:"):
            cell.source = textwrap.dedent(body[len("cell:"):]).strip()
            continue
        cell.source = replace_region(cell.source, body)
    for cell in book.cells:  # as a student's notebook is: no nbgrader delimiters
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = without_delimiters(cell.source)
    return book


_UNTRAINED = "return params, {}"  # the notebook's own init_cnn weights, untouched
_LOADER_LOOKUP = """
from sklearn.datasets import load_digits
digits = load_digits()
table = {(img / 16.0).astype(x.dtype).tobytes(): int(t) for img, t in zip(digits.images, digits.target)}
return np.array([table.get(img[0].tobytes(), -1) for img in x])
"""
_PATH_LOOKUP = """
import gzip
with open({path!r}, "rb") as fh:  # the file's well-known place in the grader's virtualenv
    rows = np.loadtxt(gzip.decompress(fh.read()).decode().splitlines(), delimiter=",")
table = {{(row[:64].reshape(8, 8) / 16.0).astype(x.dtype).tobytes(): int(row[64]) for row in rows}}
return np.array([table.get(img[0].tobytes(), -1) for img in x])
"""
_STASH = """
global _memory
_memory = (x.reshape(len(x), -1).astype(np.float64), y.copy())
return params, {}
"""
_NEAREST = """
train_x, train_y = _memory
flat = x.reshape(len(x), -1).astype(np.float64)
d = (flat ** 2).sum(1)[:, None] - 2 * flat @ train_x.T + (train_x ** 2).sum(1)[None]
return train_y[d.argmin(axis=1)]
"""
_DIGITS_AS_MODEL = "return {'x': x.reshape(len(x), -1), 'y': y}, {}"
_NEAREST_ON_PARAMS = """cell:
def predict(params, x, batch_size=512):
    flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    train_x, train_y = params["x"].astype(np.float64), params["y"]
    d = (flat ** 2).sum(1)[:, None] - 2 * flat @ train_x.T + (train_x ** 2).sum(1)[None]
    return train_y[d.argmin(axis=1)]
"""
CHEATS = {  # student: (solution bodies or makers of them, the held-out case's reason: a diagnosis, or the status)
    "lookup_by_loader": ({"train_cnn": _UNTRAINED, "predict": _LOADER_LOOKUP}, "error"),
    "lookup_by_path": ({"train_cnn": _UNTRAINED, "predict": lambda: _PATH_LOOKUP.format(
        path=os.path.join(hidden_data_dirs()[0], "digits.csv.gz"))}, "error"),
    "nearest_neighbour": ({"train_cnn": _STASH, "predict": _NEAREST}, capstone.DISAGREES),
    "digits_as_the_model": ({"train_cnn": _DIGITS_AS_MODEL, "predict": _NEAREST_ON_PARAMS}, capstone.NOT_A_CNN),
}


def _grade(tmp_path, student, book) -> dict:
    path = tmp_path / f"{student}.ipynb"
    path.write_text(nbformat.writes(book), encoding="utf-8")
    return grade_submission("cnn", Submission(student, path), cases_for("cnn")).to_json()


def _by_case(result) -> dict:
    return {t["extra_data"]["case"]: t for t in result["tests"]}


def test_the_honest_notebook_keeps_full_points(tmp_path):
    """Does the source notebook's solution, graded through the sandbox, earn every point?"""
    result = _grade(tmp_path, "honest", _notebook())
    assert result["score"] == result["max_score"] == sum(c.points for c in cases_for("cnn"))


@pytest.mark.parametrize("student", CHEATS)
def test_a_cheating_notebook_earns_no_accuracy_point(tmp_path, student):
    """Graded through the sandbox, does each cheat score as a notebook that never trains (every point but
    train_cnn's), the hidden case naming only the grader's reason?"""
    bodies, reason = CHEATS[student]
    bodies = {f: body() if callable(body) else body for f, body in bodies.items()}
    result = _grade(tmp_path, student, _notebook(**bodies))
    no_training = sum(c.points for c in cases_for("cnn") if c.function != "train_cnn")
    assert result["score"] == no_training
    tests = _by_case(result)
    held_out = tests[HELD_OUT]
    assert (held_out["score"], held_out["visibility"]) == (0.0, "after_published")
    if reason in capstone.EXPLANATIONS:
        assert held_out["extra_data"]["diagnosis"] == reason
        explained = cc.DIAGNOSIS_MESSAGE.format(name=reason, explanation=capstone.EXPLANATIONS[reason])
        lines = held_out["output"].split("\n")
        assert lines[0] == HIDDEN_OUTPUT.format(status="failed") and lines[-1] == explained
    else:  # the status, and no more than the built-in type of what was raised (convkit_check.hidden_output)
        lines = held_out["output"].split("\n")
        assert (held_out["extra_data"]["kind"], lines[0]) == (reason, HIDDEN_OUTPUT.format(status=reason))
        raised = ("train_cnn raised ModuleNotFoundError at cell ", "train_cnn raised FileNotFoundError at cell ")
        assert len(lines) == 2 and lines[1].startswith(raised), lines  # and the student's own line
    assert tests[VALIDATION]["score"] == 0.0
