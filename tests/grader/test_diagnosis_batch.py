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
from autograder.student.convkit_check import DIAGNOSIS_MESSAGE
from autograder.suites import cases_for
from tests.grader.submissions_factory import ASSIGNMENT, MISTAKES, layers_batch, lost_cases, mistake_expected

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
    cases = {(c.function, c.case_id): c for c in cases_for(ASSIGNMENT)}
    diagnosed = 0
    lost = {(c.function, c.case_id) for c in lost_cases([c for c in cases.values() if c.function == m.function],
                                                        m.failing)}
    for t in result["tests"]:
        case = cases[(t["extra_data"]["function"], t["extra_data"]["case"])]
        if (case.function, case.case_id) not in lost:
            assert t["status"] == "passed", t
            continue
        if not m.failing(case):  # right, but its function passes no hidden case: convkit_check.credit
            assert (t["extra_data"]["kind"], t["score"]) == ("unconfirmed", 0), t
            continue
        assert t["status"] == "failed" and t["score"] == 0, t
        if m.mistake in case.diagnoses:  # the mistake changes this case's answer: it must be named
            assert m.mistake in (t["extra_data"]["diagnosis"] or "").split(", "), t
            message = DIAGNOSIS_MESSAGE.format(name=m.mistake, explanation=KNOWN[m.mistake].explanation)
            assert message in t["output"], t
            diagnosed += 1
    assert diagnosed >= 1


def test_the_whole_batch_carries_every_submitted_diagnosis(run):
    """Is each submitted mistake named somewhere in its own result, and never in an honest student's result?"""
    for m in MISTAKES:
        names = {n for t in run.results[m.student]["tests"] for n in (t["extra_data"]["diagnosis"] or "").split(", ")}
        assert m.mistake in names
    for student in ("honest_full", "twin_honest_full"):
        assert all(t["extra_data"]["diagnosis"] is None for t in run.results[student]["tests"])
