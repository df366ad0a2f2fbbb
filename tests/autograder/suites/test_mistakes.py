"""Does each named mistake get recognised when a submission makes it, and does it cost exactly the cases it breaks?

Each submission below is written here, independently of autograder/mistakes.py: a plain function making one
mistake, run through run_case over every case of its function.
"""
from __future__ import annotations

import numpy as np
import pytest

import reference.conv as conv
import reference.image as image
import reference.layers as layers
import reference.pool as pool
import reference.softmax_ce as sm
from autograder.mistakes import MISTAKES
from autograder.student.convkit_check import Raises, call_in_namespace, run_case
from autograder.suites import ASSIGNMENTS, cases_for
from reference.gradcheck import numerical_gradient

GRADED = [a for a in ASSIGNMENTS if a != "cnn"]
MIN_MISTAKES = 10
# Mistakes no public case can show, and why (a public row needs points that the function does not have left).
HIDDEN_ONLY = {"output_size_rounded": "output_size's 5 points are ten half-point rows, none of them free"}


def _all_cases():
    return [c for a in GRADED for c in cases_for(a)]


def _pad_top_left(x, pad):
    ph, pw = (pad, pad) if isinstance(pad, int) else pad
    return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(ph, 0), (pw, 0)])


def _corr_top_left(image_, kernel, stride=1, pad=0):
    if isinstance(pad, str):
        return conv.correlate2d(image_, kernel, stride, pad)
    return conv.correlate2d(_pad_top_left(np.asarray(image_, float), pad), kernel, stride=stride)


def _maxpool_back_all(dout, x, size=2, stride=None):
    k = size if isinstance(size, tuple) else (size, size)
    s = stride if stride is not None else size
    s = s if isinstance(s, tuple) else (s, s)
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            win = x[:, :, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]]
            top = win.max(axis=(2, 3), keepdims=True)
            dx[:, :, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]] += (win == top) * dout[:, :, i:i + 1, j:j + 1]
    return dx


def _dense_back_first_only(dout, x, w):
    dx, _, db = layers.dense_backward(dout, x, w)
    return dx, np.outer(x[0], dout[0]), db


def _conv_back_db_mean(dout, x, w, stride=1, pad=0):
    dx, dw, _ = conv.conv2d_backward(dout, x, w, stride, pad)
    return dx, dw, dout.mean(axis=(0, 2, 3))


def _forward_diff(f, x, dout, h=1e-5):
    g = np.zeros_like(x)
    base = np.sum(f(x) * dout)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        g[i] = (np.sum(f(x) * dout) - base) / h
        x[i] = old
    return g


def _naive_softmax(z):
    with np.errstate(all="ignore"):
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)


def _maxpool_back_last(dout, x, size=2, stride=None):
    k = size if isinstance(size, tuple) else (size, size)
    s = stride if stride is not None else size
    s = s if isinstance(s, tuple) else (s, s)
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(dout.shape):
        win = x[n, c, i * s[0]:i * s[0] + k[0], j * s[1]:j * s[1] + k[1]].ravel()
        last = win.size - 1 - int(np.argmax(win[::-1]))
        dx[n, c, i * s[0] + last // k[1], j * s[1] + last % k[1]] += dout[n, c, i, j]
    return dx


def _pad_everything(x, pad):
    ph, pw = (pad, pad) if isinstance(pad, int) else pad
    return np.pad(x, [(ph, ph)] * (x.ndim - 1) + [(pw, pw)])


# (mistake, function, a submission that makes it)
SUBMISSIONS = [
    ("flipped_kernel", "correlate2d", lambda im, k, stride=1, pad=0: conv.convolve2d(im, k, stride, pad)),
    ("kernel_not_flipped", "convolve2d", lambda im, k, stride=1, pad=0: conv.correlate2d(im, k, stride, pad)),
    ("flipped_one_axis", "convolve2d", lambda im, k, stride=1, pad=0: conv.correlate2d(im, k[::-1], stride, pad)),
    ("missing_bias", "conv2d_forward", lambda x, w, b, stride=1, pad=0: conv.conv2d_forward(x, w, 0 * b, stride, pad)),
    ("missing_bias", "dense_forward", lambda x, w, b: x @ w),
    ("stride_ignored", "correlate2d", lambda im, k, stride=1, pad=0: conv.correlate2d(im, k, 1, pad)),
    ("stride_ignored", "conv2d_forward", lambda x, w, b, stride=1, pad=0: conv.conv2d_forward(x, w, b, 1, pad)),
    ("stride_ignored", "max_pool2d", lambda x, size=2, stride=None: pool.max_pool2d(x, size, 1)),
    ("pad_one_side", "zero_pad", _pad_top_left),
    ("pad_one_side", "correlate2d", _corr_top_left),
    ("output_size_off_by_one", "output_size", lambda n, k, stride=1, pad=0: (n + 2 * pad - k) // stride),
    ("output_size_off_by_one", "correlate2d",
     lambda im, k, stride=1, pad=0: conv.correlate2d(im, k, stride, pad)[:-1, :-1]),
    ("pad_counted_once", "output_size", lambda n, k, stride=1, pad=0: (n + pad - k) // stride + 1),
    ("grayscale_bgr", "rgb_to_grayscale", lambda img: img @ np.array([0.114, 0.587, 0.299], dtype=img.dtype)
     if img.dtype.kind == "f" else img @ np.array([0.114, 0.587, 0.299])),
    ("zero_pad_all_axes", "zero_pad", _pad_everything),
    ("grad_to_last_tied_maximum", "max_pool2d_backward", _maxpool_back_last),
    ("grayscale_unweighted", "rgb_to_grayscale", lambda img: np.mean(img, axis=2, dtype=np.float64)),
    ("kernel_not_normalised", "KERNELS",
     {k: (v * 9 if k == "box_blur" else v * 16 if k == "gaussian_blur" else v) for k, v in image.KERNELS.items()}),
    ("relu_wrong_side", "relu", lambda x: np.where(x < 0, x, 0.0)),
    ("relu_wrong_side", "relu_backward", lambda dout, x: dout * (x < 0)),
    ("weights_transposed", "dense_forward", lambda x, w, b: x @ w.T + b),
    ("softmax_overflow", "softmax", _naive_softmax),
    ("softmax_overflow", "cross_entropy",
     lambda z, y: np.mean(-np.log(_naive_softmax(z)[np.arange(len(y)), y]))),
    ("softmax_wrong_axis", "softmax", lambda z: np.exp(z - z.max(0)) / np.exp(z - z.max(0)).sum(0)),
    ("cross_entropy_sum_not_mean", "cross_entropy", lambda z, y: sm.cross_entropy(z, y) * len(y)),
    ("cross_entropy_sum_not_mean", "softmax_cross_entropy_backward",
     lambda z, y: sm.softmax_cross_entropy_backward(z, y) * len(y)),
    ("forgot_onehot", "softmax_cross_entropy_backward", lambda z, y: sm.softmax(z) / len(y)),
    ("mean_instead_of_sum", "sum_pool2d", pool.avg_pool2d),
    ("mean_instead_of_sum", "conv2d_backward", _conv_back_db_mean),
    ("sum_instead_of_mean", "avg_pool2d", pool.sum_pool2d),
    ("dw_not_summed_over_batch", "dense_backward", _dense_back_first_only),
    ("grad_to_all_tied_maxima", "max_pool2d_backward", _maxpool_back_all),
    ("grad_to_whole_window", "max_pool2d_backward",
     lambda dout, x, size=2, stride=None: pool.sum_pool2d_backward(dout, x, size, stride)),
    ("flatten_channels_last", "flatten", lambda x: x.transpose(0, 2, 3, 1).reshape(len(x), -1)),
    ("forward_difference", "numerical_gradient", _forward_diff),
    ("dout_ignored", "numerical_gradient", lambda f, x, dout, h=1e-5: numerical_gradient(f, x, np.ones_like(dout), h)),
]


def _pairs(size, stride):
    k = size if isinstance(size, tuple) else (size, size)
    s = size if stride is None else stride
    return k, s if isinstance(s, tuple) else (s, s)


def _pad_pair(pad):
    return (pad, pad) if isinstance(pad, int) else pad


def _maxpool_back_loops(assign=False, window_assign=False, split=False):
    """A CS231n-style max_pool2d_backward: a loop over every window of every channel of every image."""
    def backward(dout, x, size=2, stride=None):
        pool.max_pool2d_backward(dout, x, size, stride)  # the input checks of the stub's header
        (kh, kw), (sh, sw) = _pairs(size, stride)
        dx = np.zeros_like(x)
        for n, c, i, j in np.ndindex(dout.shape):
            window = x[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw]
            if split:
                mask = window == np.max(window)
                dx[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw] += mask / np.sum(mask) * dout[n, c, i, j]
                continue
            r, q = np.unravel_index(np.argmax(window), window.shape)
            if window_assign:
                mask = np.zeros_like(window)
                mask[r, q] = 1
                dx[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw] = mask * dout[n, c, i, j]
            elif assign:
                dx[n, c, i * sh + r, j * sw + q] = dout[n, c, i, j]
            else:
                dx[n, c, i * sh + r, j * sw + q] += dout[n, c, i, j]
        return dx
    return backward


def _avgpool_back_assigned(dout, x, size=2, stride=None):
    pool.avg_pool2d_backward(dout, x, size, stride)
    (kh, kw), (sh, sw) = _pairs(size, stride)
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(dout.shape):
        dx[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw] = dout[n, c, i, j] / (kh * kw)
    return dx


def _conv_loops(bias="once"):
    """conv2d_forward as loops over outputs (and channels or kernel taps), adding the bias ``bias`` times."""
    def forward(x, w, b, stride=1, pad=0):
        conv.conv2d_forward(x, w, b, stride, pad)  # the input checks
        (sh, sw), (ph, pw) = _pairs(stride, stride)[1], _pad_pair(pad)
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        (n_, c_, hp, wp), (f_, _, kh, kw) = xp.shape, w.shape
        out = np.zeros((n_, f_, (hp - kh) // sh + 1, (wp - kw) // sw + 1), dtype=np.result_type(x, w, b))
        for n, f, i, j in np.ndindex(out.shape):
            window = xp[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            if bias == "inside":
                out[n, f, i, j] = np.sum(window * w[f] + b[f])
            elif bias == "per-channel":
                for c in range(c_):
                    out[n, f, i, j] += np.sum(window[c] * w[f, c]) + b[f]
            elif bias == "per-tap":
                for a, q in np.ndindex(kh, kw):
                    out[n, f, i, j] += np.sum(window[:, a, q] * w[f, :, a, q]) + b[f]
            else:
                assert (hp - kh) % sh == 0 and (wp - kw) % sw == 0, "stride does not fit"
                out[n, f, i, j] = np.sum(window * w[f]) + b[f]
        return out
    return forward


def _conv_back_crop(crop):
    def backward(dout, x, w, stride=1, pad=0):
        ph, pw = _pad_pair(pad)
        dxp, dw, db = conv.conv2d_backward(dout, np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))), w, stride, 0)
        return (dxp if crop == "none" else dxp[:, :, ph:-ph, pw:-pw]), dw, db
    return backward


def _maxpool_strict(x, size=2, stride=None):
    out = pool.max_pool2d(x, size, stride)
    (kh, kw), (sh, sw) = _pairs(size, stride)
    if (x.shape[2] - kh) % sh or (x.shape[3] - kw) % sw:
        raise ValueError("the stride must divide H - KH and W - KW")
    return out


def _maxpool_no_stride_in_slice(x, size=2, stride=None):
    out = pool.max_pool2d(x, size, stride)
    (kh, kw), _ = _pairs(size, stride)
    for i, j in np.ndindex(out.shape[2:]):
        out[:, :, i, j] = x[:, :, i:i + kh, j:j + kw].max(axis=(2, 3))
    return out


def _central(restore=True, two=True):
    def gradient(f, x, dout, h=1e-5):
        dx = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + h
            plus = np.sum(f(x) * dout)
            x[i] = old - h
            minus = np.sum(f(x) * dout)
            if restore:
                x[i] = old
            dx[i] = (plus - minus) / (2 * h if two else h)
        return dx
    return gradient


def _ce_log_p(z, y):
    shifted = z - z.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    return -np.mean(np.log(p[np.arange(len(y)), y]))


def _scel_divided_twice(z, y):
    dz = sm.softmax(z)
    dz[np.arange(len(y)), y] -= 1
    dz /= len(y)
    return dz / len(y)


# The mistakes added for real submissions (issue 9): each made the way student code makes it.
SUBMISSIONS += [
    ("log_of_underflowed_probability", "cross_entropy", _ce_log_p),
    ("logsumexp_overflow", "cross_entropy",
     lambda z, y: np.mean(np.log(np.sum(np.exp(z), axis=1)) - z[np.arange(len(y)), y])),
    ("pool_grad_overwritten", "max_pool2d_backward", _maxpool_back_loops(assign=True)),
    ("pool_window_overwritten", "max_pool2d_backward", _maxpool_back_loops(window_assign=True)),
    ("pool_window_overwritten", "avg_pool2d_backward", _avgpool_back_assigned),
    ("grad_split_between_ties", "max_pool2d_backward", _maxpool_back_loops(split=True)),
    ("output_size_rounded", "output_size", lambda n, k, stride=1, pad=0: round((n + 2 * pad - k) / stride) + 1),
    ("bias_in_window_sum", "conv2d_forward", _conv_loops("inside")),
    ("bias_per_channel", "conv2d_forward", _conv_loops("per-channel")),
    ("bias_per_kernel_element", "conv2d_forward", _conv_loops("per-tap")),
    ("stride_must_divide", "conv2d_forward", _conv_loops("once")),
    ("stride_must_divide", "max_pool2d", _maxpool_strict),
    ("crop_empty_at_pad_0", "conv2d_backward", _conv_back_crop("p:-p")),
    ("dx_not_cropped", "conv2d_backward", _conv_back_crop("none")),
    ("stride_forgotten_in_slice", "max_pool2d", _maxpool_no_stride_in_slice),
    ("difference_over_h", "numerical_gradient", _central(two=False)),
    ("x_not_restored", "numerical_gradient", _central(restore=False)),
    ("relu_grad_at_zero", "relu_backward", lambda dout, x: dout * (x >= 0)),
    ("off_by_factor_2", "avg_pool2d_backward",
     lambda dout, x, size=2, stride=None: 2 * pool.avg_pool2d_backward(dout, x, size, stride)),
    ("off_by_factor_half", "softmax", lambda z: sm.softmax(z) / 2),
    ("off_by_factor_n", "relu_backward", lambda dout, x: len(x) * dout * (x > 0)),
    ("off_by_factor_1_over_n", "softmax_cross_entropy_backward", _scel_divided_twice),
    ("answer_transposed", "max_pool2d", lambda x, size=2, stride=None: pool.max_pool2d(x, size, stride).swapaxes(2, 3)),
]


def _rf_loop(own_stride=False, strides=True, plus_one=1):
    """receptive_field as a student's loop over the layers, the window widened layer by layer."""
    def receptive_field(kernel_sizes, strides_):
        conv.receptive_field(kernel_sizes, strides_)  # the input checks of the stub's header
        r, jump = plus_one, 1
        for k, s in zip(kernel_sizes, strides_, strict=True):
            jump *= s if own_stride else 1
            r += (k - 1) * (jump if strides else 1)
            jump *= 1 if own_stride else s
        return r
    return receptive_field


def _rf_product(kernel_sizes, strides_):
    conv.receptive_field(kernel_sizes, strides_)
    r = 1
    for k in kernel_sizes:
        r *= k  # deck 003: "2 stacked 3x3 kernels" for "1 9x9 kernel"
    return r


# The receptive field's mistakes (issue 11).
SUBMISSIONS += [
    ("receptive_field_strides_ignored", "receptive_field", _rf_loop(strides=False)),
    ("receptive_field_own_stride_counted", "receptive_field", _rf_loop(own_stride=True)),
    ("receptive_field_plus_one_missing", "receptive_field", _rf_loop(plus_one=0)),
    ("receptive_field_kernels_multiplied", "receptive_field", _rf_product),
]

def test_there_are_at_least_ten_named_mistakes_each_explained():
    assert len(MISTAKES) >= MIN_MISTAKES
    for m in MISTAKES.values():
        assert len(m.explanation) > 30 and m.variants, m.name


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_every_mistake_is_distinguishable_on_a_public_and_a_hidden_case(name):
    """Is there, for each mistake, a public and a hidden case whose answer it changes?"""
    visibilities = {c.visibility for c in _all_cases() if name in c.diagnoses}
    want = {"hidden"} if name in HIDDEN_ONLY else {"visible", "hidden"}
    assert visibilities == want, f"{name} distinguishable only on {visibilities or 'no case'}"


def test_every_mistake_has_a_submission_here():
    assert {m for m, _, _ in SUBMISSIONS} == set(MISTAKES)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow mistakes overflow
@pytest.mark.parametrize("mistake, function, submission", SUBMISSIONS,
                         ids=[f"{m}-{f}" for m, f, _ in SUBMISSIONS])
def test_a_submission_making_the_mistake_is_diagnosed_and_loses_exactly_the_cases_it_breaks(mistake, function,
                                                                                             submission):
    cases = [c for c in _all_cases() if c.function == function]
    results = [run_case(c, lambda n, a, k: call_in_namespace({function: submission}, n, a, k)) for c in cases]
    changed = {c.case_id for c in cases if mistake in c.diagnoses}
    assert changed, f"no case of {function} distinguishes {mistake}"
    for c, r in zip(cases, results, strict=True):
        if c.case_id in changed:
            # a mistake whose answer is an exception is named on the error it raises
            want = "error" if isinstance(c.diagnoses[mistake], Raises) else "failed"
            assert r.status == want and mistake in r.diagnoses, (c.case_id, r.message)
            assert MISTAKES[mistake].explanation in r.message
    lost = sum(r.max_points - r.points for r in results)
    assert lost > 0 or all(c.points == 0 for c in cases)  # KERNELS is provided: diagnosed, worth nothing
    assert lost == sum(c.points for c in cases if _independently_wrong(c, submission))


def _independently_wrong(c, submission) -> bool:
    """Does the submission get case c wrong, judged without run_case (a plain np.allclose)?"""
    import copy

    try:
        with np.errstate(all="ignore"):
            got = (submission(*copy.deepcopy(c.args), **c.kwargs) if callable(submission)
                   else submission[c.args[0]])
    except (ValueError, TypeError) as exc:
        return c.kind != "raises" or not any(t.__name__ in c.raises for t in type(exc).__mro__)
    except Exception:
        return True
    if c.kind == "raises":
        return True
    if c.kind == "exact":
        return got != c.expected
    pairs = zip(got, c.expected, strict=True) if isinstance(c.expected, tuple) else [(got, c.expected)]
    for g, e in pairs:
        g, e = np.asarray(g), np.asarray(e)
        if g.shape != e.shape or not np.allclose(g, e, rtol=c.rtol, atol=c.atol, equal_nan=True):
            return True
    return False


def test_a_correct_answer_is_never_diagnosed():
    """A diagnosis needs a wrong answer: the reference passes every case with no diagnosis."""
    import autograder.suites as suites

    for c in _all_cases():
        if c.kind not in ("array", "exact", "raises"):
            continue  # scorer cases have no reference answer (tests/autograder/suites/test_cases.py scores them)
        r = run_case(c, lambda n, a, k: call_in_namespace({n: suites.reference_function(n)}, n, a, k))
        assert r.passed and r.diagnoses == (), r.message
