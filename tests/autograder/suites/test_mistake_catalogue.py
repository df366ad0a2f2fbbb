"""The catalogue's own rules: exception answers survive freezing and are named only on exceptions, generic
mistakes (a constant factor, a transpose) never stand where a specific one gives the same answer, and the answers
are those real code gives (inf where real code overflows to inf, an empty axis where it crops p:-p at p = 0)."""
from __future__ import annotations

import numpy as np
import pytest

import reference.softmax_ce as sm
from autograder.mistakes import MISTAKES, mistaken_answers
from autograder.student.convkit_check import (DIAGNOSIS_MESSAGE, Raises, call_in_namespace, load_cases, run_case,
                                              save_cases)
from autograder.suites import cases_for

GRADED = ("convolution", "layers", "backprop")
GENERIC = {name for name, m in MISTAKES.items() if m.generic}


def _cases():
    return [c for a in GRADED for c in cases_for(a)]


def _case(function, case_id):
    return next(c for c in _cases() if (c.function, c.case_id) == (function, case_id))


def test_the_generic_mistakes_are_the_factors_and_the_transpose_and_come_last():
    names = list(MISTAKES)
    assert {"off_by_factor_2", "off_by_factor_half", "off_by_factor_n", "off_by_factor_1_over_n",
            "answer_transposed"} == GENERIC
    assert all(names.index(g) > names.index(s) for g in GENERIC for s in set(names) - GENERIC)


def test_on_every_case_a_generic_name_follows_the_specific_ones_and_never_repeats_their_answer():
    for c in _cases():
        names = list(c.diagnoses)
        specific = [n for n in names if n not in GENERIC]
        assert names == specific + [n for n in names if n in GENERIC], (c.function, c.case_id)
        for g in (n for n in names if n in GENERIC):
            for s in specific:
                a, b = c.diagnoses[g], c.diagnoses[s]
                assert isinstance(b, (Raises, tuple)) or np.shape(a) != np.shape(b) or not np.allclose(
                    a, b, equal_nan=True), (c.case_id, g, s)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("function, submission, specific, generic", [
    ("cross_entropy", lambda z, y: sm.cross_entropy(z, y) * len(y), "cross_entropy_sum_not_mean", "off_by_factor_n"),
    ("softmax_cross_entropy_backward", lambda z, y: sm.softmax_cross_entropy_backward(z, y) * len(y),
     "cross_entropy_sum_not_mean", "off_by_factor_n"),
])
def test_a_specific_mistake_is_named_alone_where_a_generic_one_gives_the_same_answer(function, submission, specific,
                                                                                  generic):
    for c in (c for c in _cases() if c.function == function and specific in c.diagnoses):
        r = run_case(c, lambda n, a, k: call_in_namespace({function: submission}, n, a, k))
        assert specific in r.diagnoses and generic not in r.diagnoses, (c.case_id, r.diagnoses)


def test_the_central_difference_over_h_is_named_as_such_not_as_a_factor_of_two():
    c = _case("numerical_gradient", "square")
    assert "difference_over_h" in c.diagnoses and "off_by_factor_2" not in c.diagnoses


def test_the_cross_entropy_mistakes_answer_inf_as_real_code_does():
    """The huge-logits loss of a log of an underflowed probability, and of an unshifted log-sum-exp, is +inf."""
    for case_id in ("huge-logits", "huge-spread"):
        c = _case("cross_entropy", case_id)
        assert c.diagnoses["log_of_underflowed_probability"] == np.inf
        assert c.diagnoses["logsumexp_overflow"] == np.inf
        assert np.isfinite(c.expected)


def test_a_crop_p_to_minus_p_at_pad_0_has_an_empty_axis():
    c = _case("conv2d_backward", "batch-rgb")
    dx = c.diagnoses["crop_empty_at_pad_0"][0]
    assert dx.shape[:2] == c.expected[0].shape[:2] and dx.size == 0


def test_a_rejected_stride_survives_freezing_and_is_named_on_the_exception_only(tmp_path):
    c = _case("max_pool2d", "odd-size")
    assert c.visibility == "visible" and isinstance(c.diagnoses["stride_must_divide"], Raises)
    save_cases([c], tmp_path)
    frozen, = load_cases(tmp_path)
    assert frozen.diagnoses["stride_must_divide"] == c.diagnoses["stride_must_divide"]

    def strict(x, size=2, stride=None):
        assert (x.shape[2] - 2) % 2 == 0, "the stride must fit"

    r = run_case(frozen, lambda n, a, k: call_in_namespace({"max_pool2d": strict}, n, a, k))
    assert r.status == "error" and r.diagnoses == ("stride_must_divide",)
    assert DIAGNOSIS_MESSAGE.format(name="stride_must_divide",
                                    explanation=MISTAKES["stride_must_divide"].explanation) in r.message
    other = run_case(frozen, lambda n, a, k: call_in_namespace(
        {"max_pool2d": lambda x, size=2, stride=None: x[:, :, 9]}, n, a, k))  # an IndexError: a different bug
    assert other.status == "error" and other.diagnoses == ()
    returned = run_case(frozen, lambda n, a, k: call_in_namespace(
        {"max_pool2d": lambda x, size=2, stride=None: {"raises": ["ValueError"]}}, n, a, k))
    assert returned.diagnoses == ()  # a returned value never matches an exception answer


def test_no_mistake_answers_where_it_changes_nothing():
    """On stride 1, pad 0 and a tie-free input, the stride, crop and tie mistakes give no answer at all."""
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    answers = mistaken_answers("max_pool2d_backward", (np.ones((1, 1, 3, 3)), x), {"size": 2, "stride": 1})
    assert {"stride_forgotten_in_slice", "stride_must_divide"}.isdisjoint(answers)
    w = np.ones((1, 1, 3, 3))
    answers = mistaken_answers("conv2d_backward", (np.ones((1, 1, 4, 4)), np.ones((1, 1, 6, 6)), w), {"pad": 0})
    assert "dx_not_cropped" not in answers and "crop_empty_at_pad_0" in answers
