"""The case tables: points, visibility, sizes, speed, the slides' examples, and what freezing lets out."""
from __future__ import annotations

import json

import numpy as np
import pytest

from autograder.student.convkit_check import call_in_namespace, load_cases, run_case
from autograder.suites import ASSIGNMENTS, cases_for, freeze_public, points_by_function, reference_function
from reference.slides import EXAMPLES
from tests.helpers import iter_arrays

ARRAY_ASSIGNMENTS = ("convolution", "layers", "backprop")  # cnn trains a network: tested apart, marked slow
MAX_CASE_BYTES = 1_000_000
PUBLIC_SHARE = (0.2, 0.5)
MAX_SHARED_DISTINCT = 8


PROVIDED = {"KERNELS"}


def _reference_call(name, args, kwargs):
    return call_in_namespace({name: reference_function(name)}, name, args, kwargs)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_points_are_halves_and_each_function_totals_a_multiple_of_five(assignment):
    for c in cases_for(assignment):
        # Only what the student writes earns points: KERNELS is provided, checked for nothing.
        assert (c.points > 0) == (c.function not in PROVIDED), (c.function, c.case_id)
        assert (2 * c.points).is_integer(), (c.function, c.case_id)
    for function, total in points_by_function(assignment).items():
        assert total % 5 == 0, (function, total)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_about_a_third_of_the_points_are_public_and_every_function_has_both(assignment):
    cases = cases_for(assignment)
    public = sum(c.points for c in cases if c.visibility == "visible") / sum(c.points for c in cases)
    assert PUBLIC_SHARE[0] <= public <= PUBLIC_SHARE[1], public
    for function in points_by_function(assignment):
        assert {c.visibility for c in cases if c.function == function} == {"visible", "hidden"}, function


def test_every_worked_example_of_the_slides_is_a_public_case_with_the_corrected_value():
    public = {(c.function, c.case_id): c for a in ASSIGNMENTS for c in cases_for(a, "visible")}
    for ex in EXAMPLES:
        c = public[(ex.function, ex.id)]
        np.testing.assert_allclose(c.expected, ex.expected)  # the erratum's correct value, not the slide's


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_each_case_is_small(assignment):
    for c in cases_for(assignment):
        size = sum(a.nbytes for part in (c.args, c.kwargs, c.expected, c.data) for a in iter_arrays(part))
        assert size < MAX_CASE_BYTES, (c.function, c.case_id, size)


@pytest.mark.parametrize("assignment", ARRAY_ASSIGNMENTS)
def test_the_reference_passes_every_case(assignment):
    """Does the reference (a correct submission) get full points on the whole assignment? (How long it takes is
    benchmarks/timings.py's.)"""
    cases = [c for c in cases_for(assignment) if c.kind != "kernel_response"]
    results = [run_case(c, _reference_call) for c in cases]
    assert [r.message for r in results if not r.passed] == []
    assert sum(r.points for r in results) == sum(c.points for c in cases) > 0


def test_cases_are_deterministic():
    import autograder.suites as suites

    first = cases_for("layers")
    suites._all_cases.cache_clear()
    again = cases_for("layers")
    for a, b in zip(first, again, strict=True):
        for x, y in zip(iter_arrays(a.args), iter_arrays(b.args), strict=True):
            np.testing.assert_array_equal(x, y)


def test_cnn_gradient_cases_pass_on_the_reference():
    for c in cases_for("cnn"):
        if c.kind == "array":
            assert run_case(c, _reference_call).passed


@pytest.mark.slow
def test_cnn_accuracy_cases_give_the_reference_full_points():
    import reference.cnn as cnn

    namespace = {"train_cnn": cnn.train_cnn, "predict": cnn.predict}
    for c in cases_for("cnn"):
        if c.kind == "accuracy":
            r = run_case(c, lambda n, a, k: call_in_namespace(namespace, n, a, k))
            assert r.passed and r.points == c.points, r.message


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_freezing_writes_only_public_cases_and_no_code(assignment, tmp_path):
    json_path, npz_path = freeze_public(assignment, tmp_path)
    frozen = load_cases(tmp_path)
    public = cases_for(assignment, "visible")
    assert [(c.function, c.case_id) for c in frozen] == [(c.function, c.case_id) for c in public]
    assert all(c.visibility == "visible" for c in frozen)
    doc = json.loads(json_path.read_text())
    assert doc["points_by_function"] == points_by_function(assignment)
    text = json_path.read_text()
    for marker in ("def ", "import ", "lambda", "<function"):
        assert marker not in text
    with np.load(npz_path, allow_pickle=False) as npz:  # loads without pickles: arrays of numbers only
        frozen_arrays = [npz[k] for k in npz.files]
    assert all(a.dtype.kind in "biuf" for a in frozen_arrays)
    hidden = cases_for(assignment, "hidden")
    hidden_ids = {c.case_id for c in hidden} - {c.case_id for c in public}
    assert not hidden_ids & {c.case_id for c in frozen}
    frozen_bytes = {a.tobytes() for a in frozen_arrays if a.size > 1}
    for c in hidden:
        for a in iter_arrays((c.args, c.kwargs, c.expected, c.data)):
            # Arrays of a few distinct values (a named kernel, zero biases, labels) are shared with the slides'
            # public examples or coincide by chance; random inputs and their expected values must not leak.
            if np.unique(a).size > MAX_SHARED_DISTINCT:
                assert a.tobytes() not in frozen_bytes, (c.function, c.case_id)


def test_the_held_out_digits_are_never_frozen(tmp_path):
    _, npz_path = freeze_public("cnn", tmp_path)
    (held_out,) = [c for c in cases_for("cnn", "hidden") if c.kind == "accuracy"]
    with np.load(npz_path, allow_pickle=False) as npz:
        frozen = [npz[k] for k in npz.files]
    x_test = held_out.data["x"]
    for a in frozen:
        assert a.tobytes().find(x_test[0].tobytes()) < 0  # not even the first held-out digit


@pytest.mark.parametrize("assignment", ["convolution", "layers", "backprop"])
def test_every_public_case_with_a_float_input_has_a_hidden_twin_on_other_inputs(assignment):
    """Is each public array case with a float input twinned (same call, inputs scaled by one power of two of
    TWIN_SCALES), hidden, worth no points, with the reference's answer to the twin's own inputs?"""
    import numpy as np

    from autograder.suites import TWIN_SCALES, twins_for

    public = cases_for(assignment, "visible")
    twins = twins_for(assignment, public)
    floats = [c for c in public if c.kind == "array" and any(isinstance(a, np.ndarray) and a.dtype.kind == "f"
                                                            for a in c.args)]
    assert floats and all((c.function, c.case_id) in twins for c in floats)
    scales = set()
    for c in floats:
        twin = twins[(c.function, c.case_id)]
        assert twin.visibility == "hidden" and twin.points == 0 and twin.function == c.function
        x, y = next((a, b) for a, b in zip(c.args, twin.args, strict=True)
                    if isinstance(a, np.ndarray) and a.dtype.kind == "f" and np.any(a))
        first = np.flatnonzero(x)[0]
        scales.add(float(y.flat[first] / x.flat[first]))
        assert not np.array_equal(x, y)
    assert len(scales) == 1 and scales <= set(TWIN_SCALES)
