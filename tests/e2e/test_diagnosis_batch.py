"""Does a real batch name the mistake a realistic buggy function makes, and score it exactly?

Each submission of submissions_factory.MISTAKES is an honest notebook with one solution body replaced by student
code that makes one named mistake of autograder.mistakes (softmax without max-subtraction, sum pooling that
averages, stride ignored, ...). They are graded in the session's one big ``layers`` batch, beside the hostile and
honest submissions. Expected: the total minus the cases that mistake gets wrong, and each of those cases carries
the mistake's name (in the test's extra_data and in its output, hidden cases included).
"""
from __future__ import annotations

import pytest

from autograder.mistakes import MISTAKES as KNOWN
from tests.support.submissions_factory import MISTAKES, check_case_by_case, layers_batch, mistake_expected

pytestmark = pytest.mark.slow

MIN_DISTINCT_MISTAKES = 10


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return layers_batch(tmp_path_factory)


def test_at_least_ten_distinct_named_mistakes_are_submitted():
    names = {m.mistake for m in MISTAKES}
    assert len(names) >= MIN_DISTINCT_MISTAKES and names <= set(KNOWN)


@pytest.mark.parametrize("m", MISTAKES, ids=[m.student for m in MISTAKES])
def test_a_mistake_is_diagnosed_and_scored_exactly(run, m):
    result = run.results[m.student]
    assert result["score"] == mistake_expected(m)  # whole and half points: exact
    assert sum(check_case_by_case(result, m).values()) >= 1


def test_the_whole_batch_carries_every_submitted_diagnosis(run):
    """Is each submitted mistake named somewhere in its own result, and never in an honest student's result?"""
    for m in MISTAKES:
        names = {n for t in run.results[m.student]["tests"] for n in (t["extra_data"]["diagnosis"] or "").split(", ")}
        assert m.mistake in names
    for student in ("honest_full", "twin_honest_full"):
        assert all(t["extra_data"]["diagnosis"] is None for t in run.results[student]["tests"])
