"""Are the mistakes real submissions made named on every case they break, hidden ones included, in a real batch?

Each submission is the released notebook of its assignment with the solutions put back (nbgrader's real release)
and ONE solution body replaced by student-style code making one mistake of autograder.mistakes: loops over
windows, np.zeros allocations, CS231n's stride assert. All the notebooks of an assignment are graded in one
grade_batch call through the real sandbox. Expected: the total minus the cases the mistake breaks (from the case
table, never from the grader), and the mistake's name on each of those cases its answer was stored for.
"""
from __future__ import annotations

from collections.abc import Callable

import pytest

from autograder.build import build_course
from autograder.mistakes import MISTAKES
from autograder.results import read_result, result_path
from autograder.suites import points_by_function
from tests.support.submissions_factory import BATCH_LIMITS, WORKERS, MistakeSubmission, check_case_by_case, \
    honest_body, honest_notebook, mistake_expected, replace_body, write_submission

pytestmark = pytest.mark.slow

ASSIGNMENTS = ("convolution", "layers", "backprop")


def Mistaken(assignment: str, mistake: str, function: str, body: str, fails: Callable | None = None):
    """``function`` of ``assignment`` with ``body`` as its solution; ``fails(case)``: the cases it gets wrong
    (default: the cases of ``function`` whose answer the mistake changes)."""
    return MistakeSubmission(mistake, function, body, fails, assignment)


def _round_changes(c) -> bool:
    """Does round() change an output size this case needs? (output_size itself, or the layers that call it)"""
    if c.function == "output_size":
        return "output_size_rounded" in c.diagnoses
    if c.function not in ("correlate2d", "convolve2d", "conv2d_forward") or c.kind != "array":
        return False
    (h, w), (kh, kw) = c.args[0].shape[-2:], c.args[1].shape[-2:]
    pad, stride = c.kwargs.get("pad", 0), c.kwargs.get("stride", 1)
    if pad in ("same", "valid"):
        return False  # stride 1 there: every quotient is whole
    pad = (kh - 1, kw - 1) if pad == "full" else pad
    (ph, pw), (sh, sw) = [(v, v) if isinstance(v, int) else v for v in (pad, stride)]
    return any(round((n + 2 * p - k) / s) != (n + 2 * p - k) // s for n, p, k, s in ((h, ph, kh, sh), (w, pw, kw, sw)))


def _in(*functions, mistake):
    return lambda c: c.function in functions and mistake in c.diagnoses


_MAXPOOL_BACK_LOOPS = """
N, C, Ho, Wo = dout.shape
dx = np.zeros(x.shape, dtype=same_float_dtype(dout, x))
for n in range(N):
    for c in range(C):
        for i in range(Ho):
            for j in range(Wo):
                window = x[n, c, i * SH:i * SH + KH, j * SW:j * SW + KW]
{inner}
return dx
"""


def _maxpool_back(inner: str) -> str:
    return _MAXPOOL_BACK_LOOPS.format(inner="\n".join(" " * 16 + line for line in inner.strip().splitlines()))


def _numerical(restore: bool, denominator: str) -> str:
    return f"""
dx = np.zeros(x.shape, dtype=np.float64)
for i in np.ndindex(x.shape):
    old = x[i]
    x[i] = old + h
    plus = np.sum(f(x) * dout)
    x[i] = old - h
    minus = np.sum(f(x) * dout)
    {"x[i] = old" if restore else "# (x[i] is not put back)"}
    dx[i] = (plus - minus) / {denominator}
return dx
"""


def _conv_backward_ending(ending: str) -> str:
    body = honest_body("conv2d_backward", "backprop")
    honest_end = "dx = dxp[:, :, PH:PH + H, PW:PW + W]"
    assert honest_end in body
    return body.split(honest_end)[0] + ending


SUBMISSIONS = [
    Mistaken("convolution", "output_size_rounded", "output_size", """
if k > n + 2 * pad:
    raise ValueError(f"kernel of size k={k} does not fit input of size n={n} with pad={pad}")
return round((n + 2 * pad - k) / stride) + 1
""", fails=_round_changes),
    Mistaken("convolution", "bias_in_window_sum", "conv2d_forward", """
dtype = same_float_dtype(x, w, b)
xp = zero_pad(x, (ph, pw)).astype(dtype)
n, f, (kh, kw) = x.shape[0], w.shape[0], w.shape[2:]
ho = output_size(xp.shape[2], kh, sh)
wo = output_size(xp.shape[3], kw, sw)
out = np.zeros((n, f, ho, wo), dtype=dtype)
for i in range(ho):
    for j in range(wo):
        window = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]   # (N, C, KH, KW)
        for k in range(f):
            out[:, k, i, j] = np.sum(window * w[k] + b[k], axis=(1, 2, 3))
return out
"""),
    Mistaken("convolution", "stride_forgotten_in_slice", "correlate2d", """
dtype = same_float_dtype(image, kernel)
kh, kw = kernel.shape
if pad == "same":
    padded = np.pad(image, (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)))
elif pad == "full":
    padded = zero_pad(image, (kh - 1, kw - 1))
else:
    padded = zero_pad(image, 0 if pad == "valid" else pad)
padded = padded.astype(dtype)
ho = output_size(padded.shape[0], kh, sh)
wo = output_size(padded.shape[1], kw, sw)
out = np.zeros((ho, wo), dtype=dtype)
for i in range(ho):
    for j in range(wo):
        out[i, j] = np.sum(padded[i:i + kh, j:j + kw] * kernel)
return out
""", fails=_in("correlate2d", "convolve2d", mistake="stride_forgotten_in_slice")),
    Mistaken("convolution", "stride_must_divide", "conv2d_forward",
             "assert (x.shape[2] + 2 * ph - w.shape[2]) % sh == 0, 'the stride must fit'\n"
             "assert (x.shape[3] + 2 * pw - w.shape[3]) % sw == 0, 'the stride must fit'\n"
             + honest_body("conv2d_forward", "convolution")),

    Mistaken("layers", "stride_must_divide", "max_pool2d",
             "if (x.shape[2] - kh) % sh or (x.shape[3] - kw) % sw:\n"
             "    raise ValueError('the stride must divide H - KH and W - KW')\n"
             + honest_body("max_pool2d", "layers")),
    Mistaken("layers", "stride_forgotten_in_slice", "max_pool2d", """
ho, wo = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
out = np.zeros((x.shape[0], x.shape[1], ho, wo), dtype=x.dtype)
for i in range(ho):
    for j in range(wo):
        out[:, :, i, j] = x[:, :, i:i + kh, j:j + kw].max(axis=(2, 3))
return out
"""),
    Mistaken("layers", "log_of_underflowed_probability", "cross_entropy", """
shifted = z - z.max(axis=1, keepdims=True)
p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
return -np.mean(np.log(p[np.arange(z.shape[0]), y]))
"""),
    Mistaken("layers", "logsumexp_overflow", "cross_entropy", """
log_sum_exp = np.log(np.sum(np.exp(z), axis=1))
return np.mean(log_sum_exp - z[np.arange(z.shape[0]), y])
"""),

    Mistaken("backprop", "x_not_restored", "numerical_gradient", _numerical(False, "(2 * h)")),
    Mistaken("backprop", "difference_over_h", "numerical_gradient", _numerical(True, "h")),
    Mistaken("backprop", "relu_grad_at_zero", "relu_backward",
             "dx = dout * (x >= 0)\nreturn dx.astype(same_float_dtype(dout, x))"),
    Mistaken("backprop", "pool_grad_overwritten", "max_pool2d_backward", _maxpool_back("""
r, s = np.unravel_index(np.argmax(window), window.shape)
dx[n, c, i * SH + r, j * SW + s] = dout[n, c, i, j]
""")),
    Mistaken("backprop", "grad_split_between_ties", "max_pool2d_backward", _maxpool_back("""
mask = window == np.max(window)
dx[n, c, i * SH:i * SH + KH, j * SW:j * SW + KW] += mask / np.sum(mask) * dout[n, c, i, j]
""")),
    Mistaken("backprop", "pool_window_overwritten", "avg_pool2d_backward", """
Ho, Wo = dout.shape[2:]
dx = np.zeros(x.shape, dtype=same_float_dtype(dout, x))
for i in range(Ho):
    for j in range(Wo):
        dx[:, :, i * SH:i * SH + KH, j * SW:j * SW + KW] = dout[:, :, i, j, None, None] / (KH * KW)
return dx
"""),
    Mistaken("backprop", "crop_empty_at_pad_0", "conv2d_backward",
             _conv_backward_ending("dx = dxp[:, :, PH:-PH, PW:-PW]\nreturn dx, dw, db\n")),
    Mistaken("backprop", "dx_not_cropped", "conv2d_backward", _conv_backward_ending("return dxp, dw, db\n")),
    Mistaken("backprop", "off_by_factor_1_over_n", "softmax_cross_entropy_backward", """
e = np.exp(z - z.max(axis=1, keepdims=True))
dz = e / e.sum(axis=1, keepdims=True)
dz[np.arange(n), y] -= 1
dz /= n
return dz / n
"""),
]





@pytest.fixture(scope="module")
def results(tmp_path_factory):
    from autograder.grade import grade_batch

    course = tmp_path_factory.mktemp("mistakes-batch") / "course"
    build_course(course, list(ASSIGNMENTS))
    out = {}
    for assignment in ASSIGNMENTS:
        mine = [m for m in SUBMISSIONS if m.assignment == assignment]
        for m in mine:
            nb = replace_body(honest_notebook(course, assignment), m.function, m.body)
            write_submission(course, m.student, nb, assignment)
        write_submission(course, "honest", honest_notebook(course, assignment), assignment)
        grade_batch(assignment, [], course, workers=WORKERS, progress=False, limits=BATCH_LIMITS)
        for student in [m.student for m in mine] + ["honest"]:
            out[(assignment, student)] = read_result(result_path(course, assignment, student))
    return out


def test_every_added_mistake_is_submitted_and_known():
    assert {m.mistake for m in SUBMISSIONS} <= set(MISTAKES)
    assert len({m.mistake for m in SUBMISSIONS}) >= 15


@pytest.mark.parametrize("m", SUBMISSIONS, ids=[m.student for m in SUBMISSIONS])
def test_a_mistaken_notebook_is_scored_exactly_and_diagnosed_on_every_case_it_breaks(results, m):
    result = results[(m.assignment, m.student)]
    assert result["score"] == mistake_expected(m)  # whole and half points: exact
    diagnosed = check_case_by_case(result, m)
    assert diagnosed["hidden"] >= 1, diagnosed  # the measured gap: bugs that show only on hidden cases


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_honest_notebook_beside_them_gets_every_point_and_no_diagnosis(results, assignment):
    result = results[(assignment, "honest")]
    assert result["score"] == sum(points_by_function(assignment).values())
    assert all(t["extra_data"]["diagnosis"] is None for t in result["tests"])
