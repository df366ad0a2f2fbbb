"""Do the slides' worked examples come out of the reference, and are the four errata really errata?"""
from __future__ import annotations

import numpy as np
import pytest

import reference
from reference.slides import EXAMPLES

EXAMPLE_RTOL = 1e-12
EXAMPLE_ATOL = 1e-12


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.id)
def test_worked_example_is_reproduced(example):
    """Does the reference give the (corrected) result of this slide?"""
    got = getattr(reference, example.function)(*example.args, **example.kwargs)
    np.testing.assert_allclose(got, example.expected, rtol=EXAMPLE_RTOL, atol=EXAMPLE_ATOL,
                               err_msg=f"{example.id} ({example.seed}: {example.section})")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.id)
def test_slide_value_differs_only_where_an_erratum_is_noted(example):
    """Is every difference between the slide and the right answer explained by a noted erratum?"""
    same = example.slide.shape == example.expected.shape and np.allclose(example.slide, example.expected)
    assert same != bool(example.erratum), (example.id, example.erratum)


def test_the_four_errata_of_the_curriculum_are_recorded():
    """CURRICULUM.md lists four wrong slide results: are exactly those marked?"""
    assert sorted(e.id for e in EXAMPLES if e.erratum) == [
        "avg-pool-4x4", "digit-6x6", "sharpen-pad1", "sharpen-pad1-stride2"]


def test_every_curriculum_name_is_importable_from_reference():
    """Can a maintainer write `from reference import <name>` for every function of CURRICULUM.md?"""
    missing = [name for name in reference.__all__ if not hasattr(reference, name)]
    assert not missing


def test_softmax_name_is_the_function_even_after_its_module_is_imported():
    """Does `from reference import softmax` give the function, whatever was imported before?"""
    import reference.softmax_ce  # noqa: F401

    from reference import softmax

    assert callable(softmax) and softmax.__module__ == "reference.softmax_ce"
