"""Is grading fair to code written the way students write it, and do hidden cases explain themselves?

Real notebooks (the source notebooks, one solution body replaced by loop-over-windows code in the CS231n style:
``np.zeros(shape)``, which is float64) are graded by the real grader in the real sandbox, and checked in-process by
the self-check on the frozen public cases. Expected scores come from the case tables, never from the grader.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.build import SOURCE_ROOT
from autograder.grading import grade_submission
from autograder.mistakes import MISTAKES as KNOWN
from autograder.student import convkit_check as cc
from autograder.submissions import Submission
from autograder.suites import cases_for, freeze_public, points_by_function
from tests.support.submissions_factory import BATCH_LIMITS, expected_score, replace_body
from tests.helpers import student_notebook

# Right values, float64 result for float32 input: the usual allocation of real student code.
CONV_FLOAT64 = """
N, C, H, W = x.shape
F, _, HH, WW = w.shape
x_pad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), mode="constant")
H_out = 1 + (H + 2 * ph - HH) // sh
W_out = 1 + (W + 2 * pw - WW) // sw
out = np.zeros((N, F, H_out, W_out))
for n in range(N):
    for f in range(F):
        for i in range(H_out):
            for j in range(W_out):
                window = x_pad[n, :, i * sh:i * sh + HH, j * sw:j * sw + WW]
                out[n, f, i, j] = np.sum(window * w[f]{flip}) + {bias}
return out
"""
# The bias as a column (F, 1, 1, 1): on NumPy 1.x the size-1 array slides into out[n, f, i, j] with a warning; from
# NumPy 2 on it is "setting an array element with a sequence".
CONV_BIAS_COLUMN = CONV_FLOAT64.replace("N, C, H, W = x.shape", "N, C, H, W = x.shape\nb_col = b.reshape(-1, 1, 1, 1)")
BIAS_COLUMN_LINE = "out[n, f, i, j] = np.sum(window * w[f]) + b_col[f]"
POOL_FLOAT64 = """
N, C, H, W = x.shape
H_out = 1 + (H - kh) // sh
W_out = 1 + (W - kw) // sw
out = np.zeros((N, C, H_out, W_out))
for i in range(H_out):
    for j in range(W_out):
        window = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
        out[:, :, i, j] = np.max(window, axis=(2, 3))
return out
"""
# dx keeps x's dtype (zeros_like), dw and db do not (zeros): two outputs of the tuple break the rule.
CONV_BACKWARD_FLOAT64 = """
x_pad = np.pad(x, ((0, 0), (0, 0), (PH, PH), (PW, PW)), mode="constant")
dx_pad = np.zeros_like(x_pad)
dw = np.zeros(w.shape)
db = np.zeros(F)
for n in range(N):
    for f in range(F):
        for i in range(Ho):
            for j in range(Wo):
                window = x_pad[n, :, i * SH:i * SH + KH, j * SW:j * SW + KW]
                dw[f] += window * dout[n, f, i, j]
                dx_pad[n, :, i * SH:i * SH + KH, j * SW:j * SW + KW] += w[f] * dout[n, f, i, j]
                db[f] += dout[n, f, i, j]
dx = dx_pad[:, :, PH:PH + H, PW:PW + W]
return dx, dw, db
"""

SUBMISSIONS = {  # student -> (assignment, function, body)
    "conv_float64": ("convolution", "conv2d_forward", CONV_FLOAT64.format(flip="", bias="b[f]")),
    "conv_flipped_float64": ("convolution", "conv2d_forward",
                             CONV_FLOAT64.format(flip="[:, ::-1, ::-1]", bias="b[f]")),
    "conv_bias_column": ("convolution", "conv2d_forward", CONV_BIAS_COLUMN.format(flip="", bias="b_col[f]")),
    "maxpool_float64": ("layers", "max_pool2d", POOL_FLOAT64),
    "conv_backward_float64": ("backprop", "conv2d_backward", CONV_BACKWARD_FLOAT64),
}


def _float32(case) -> bool:
    return case.dtype == "float32"


def _notebook(tmp_path, student):
    assignment, function, body = SUBMISSIONS[student]
    nb = student_notebook(SOURCE_ROOT / assignment / f"{assignment}.ipynb")
    path = tmp_path / f"{student}.ipynb"
    nbformat.write(replace_body(nb, function, body), str(path))
    return path


@functools.cache
def _graded(student, folder):
    assignment = SUBMISSIONS[student][0]
    path = _notebook(Path(folder), student)
    return path, grade_submission(assignment, Submission(student, path), cases_for(assignment),
                                  limits=BATCH_LIMITS).to_json()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("fair"))
    return lambda student: _graded(student, folder)


def _tests_of(result, function):
    return {t["extra_data"]["case"]: t for t in result["tests"] if t["extra_data"]["function"] == function}


@pytest.mark.parametrize("student", ["conv_float64", "maxpool_float64", "conv_backward_float64"])
def test_right_values_in_float64_lose_exactly_the_dtype_share_of_each_float32_case(graded, student):
    assignment, function, _ = SUBMISSIONS[student]
    _, result = graded(student)
    f32 = [c for c in cases_for(assignment) if c.function == function and _float32(c)]
    assert {c.visibility for c in f32} == {"visible", "hidden"}
    total = sum(points_by_function(assignment).values())
    assert result["score"] == total - cc.DTYPE_SHARE * sum(c.points for c in f32)
    tests = _tests_of(result, function)
    for c in f32:
        t = tests[c.case_id]
        assert (t["extra_data"]["kind"], t["score"]) == ("dtype", c.points * (1 - cc.DTYPE_SHARE)), t
        wrong = ("dw", "db") if function == "conv2d_backward" else ("result",)
        for what in wrong:  # the hidden case says it too: it reveals nothing hidden
            assert cc.DTYPE_MESSAGE.format(what=what, expected="float32", got="float64") in t["output"], t
        assert "dx:" not in t["output"]
    assert all(t["status"] == "passed" for cid, t in tests.items() if cid not in {c.case_id for c in f32})


def test_a_wrong_dtype_answer_that_matches_a_mistake_is_diagnosed_on_hidden_cases(graded):
    _, result = graded("conv_flipped_float64")
    (hidden,) = [c for c in cases_for("convolution", "hidden") if c.function == "conv2d_forward"
                 and c.case_id == "float32"]
    t = _tests_of(result, "conv2d_forward")["float32"]
    assert t["score"] == 0 and t["extra_data"]["diagnosis"] == "flipped_kernel"
    assert t["output"] == "\n".join([
        cc.HIDDEN_OUTPUT.format(status="failed"),
        cc.DTYPE_MESSAGE.format(what="result", expected="float32", got="float64"),
        cc.HIDDEN_PROBLEM_MESSAGES[cc.WRONG_VALUES].format(what="result"),
        cc.DIAGNOSIS_MESSAGE.format(name="flipped_kernel", explanation=KNOWN["flipped_kernel"].explanation)])
    assert hidden.visibility == "hidden"


def test_a_hidden_error_names_the_builtin_type_and_never_the_students_message(graded):
    _, result = graded("conv_bias_column")
    # every case that runs the body raises; the bad-input case is rejected by the checks above it
    assert result["score"] == expected_score({"conv2d_forward": "body"}, "convolution")
    for t in _tests_of(result, "conv2d_forward").values():
        if t["extra_data"]["hidden"] and t["extra_data"]["kind"] == "error":
            first = cc.HIDDEN_PROBLEM_MESSAGES[cc.RAISED].format(function="conv2d_forward", type="ValueError")
            assert t["output"].splitlines()[1].startswith(first), t
            assert "sequence" not in t["output"]  # NumPy's message: text from the student's run
            assert t["extra_data"]["problem"] == cc.RAISED


def test_a_hidden_error_names_the_students_own_line(graded):
    path, result = graded("conv_bias_column")
    t = _tests_of(result, "conv2d_forward")["float32"]
    cells = dict(cc.notebook_cells(path))
    (cell,) = [n for n, src in cells.items() if BIAS_COLUMN_LINE in src]
    lineno = cells[cell].splitlines().index(next(ln for ln in cells[cell].splitlines() if BIAS_COLUMN_LINE in ln)) + 1
    assert t["output"].endswith(cc.HIDDEN_LINE_MESSAGE.format(cell=cell, lineno=lineno, text=BIAS_COLUMN_LINE))


@pytest.mark.parametrize("student", ["conv_float64", "conv_bias_column"])
def test_the_self_check_and_the_grader_give_the_same_verdicts_on_the_public_cases(graded, student, tmp_path):
    """The bias-column notebook passes its self-check on NumPy 1.x and raises on 2.x: on the NumPy the student
    side now requires (the grader's), both say the same, case by case."""
    assignment, function, _ = SUBMISSIONS[student]
    path, result = graded(student)
    freeze_public(assignment, tmp_path)
    namespace = cc.load_notebook(path)
    public = [c for c in cc.load_cases(tmp_path) if c.function == function]
    mine = {c.case_id: cc.run_case(c, lambda n, a, k: cc.call_in_namespace(namespace, n, a, k)) for c in public}
    graders = _tests_of(result, function)
    assert {cid: (r.status, r.points) for cid, r in mine.items()} == {
        cid: (graders[cid]["extra_data"]["kind"], graders[cid]["score"]) for cid in mine}
    if student == "conv_bias_column":
        assert {r.status for c, r in zip(public, mine.values(), strict=True) if c.kind == "array"} == {"error"}
        assert all(BIAS_COLUMN_LINE in r.line for c, r in zip(public, mine.values(), strict=True) if c.kind == "array")


@pytest.mark.slow  # a real pytest subprocess, ~4 s
def test_pytest_in_a_release_folder_warns_when_the_numpy_major_differs_from_the_graders(tmp_path):
    from tests.e2e.test_selfcheck_release import CORRECT_RELU, _pytest, _release

    folder = _release(tmp_path, CORRECT_RELU)
    assert cc.numpy_version_warning(folder) is None  # frozen with this NumPy: no warning
    doc = json.loads((folder / cc.PUBLIC_JSON).read_text())
    doc["numpy"] = "1.26.4"  # as if the grader ran NumPy 1.26
    (folder / cc.PUBLIC_JSON).write_text(json.dumps(doc))
    out = _pytest(folder)
    assert out.returncode == 0, out.stdout + out.stderr
    warning = cc.NUMPY_VERSION_MESSAGE.format(here=np.__version__, grader="1.26.4", major=1, next=2)
    assert warning in " ".join(out.stdout.split())  # the terminal may wrap the line
