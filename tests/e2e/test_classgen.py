"""Does a generated class grade the way its profiles say?

A small ``layers`` class (every hostile trick, a mix of mistakes) is generated into a freshly built course and
graded in one real batch. The complete submission must earn every point, a partial one exactly its implemented
functions, a mistake exactly the cases its code gets wrong (judged here by a plain np.allclose on the student's
code run in this process) with the mistake named on every case that distinguishes it, and every hostile
submission must cost points only in the function it attacks from.
"""
from __future__ import annotations

import copy
import filecmp
import json
import shutil

import numpy as np
import pytest

from autograder.build import build_course
from autograder.classgen import HOSTILE_KINDS, MISTAKE_CODE, generate_class
from autograder.grade import grade_batch
from autograder.sandbox import Limits
from autograder.student.convkit_check import load_notebook
from autograder.suites import cases_for, points_by_function
from tests.support.submissions_factory import lost_cases

pytestmark = pytest.mark.slow

ASSIGNMENT = "layers"
# complete + partial + the interleaved mistakes and tricks: 2 + 2 * len(HOSTILE_KINDS) covers every trick.
N_STUDENTS = 2 + 2 * len(HOSTILE_KINDS)
# The endless loop costs one call timeout: a short one keeps the test fast; honest layers calls take milliseconds.
CALL_TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = tmp_path_factory.mktemp("classgen") / "course"
    build_course(course, [ASSIGNMENT])
    profiles = generate_class(course, [ASSIGNMENT], n_students=N_STUDENTS, seed=0)
    summary = grade_batch(ASSIGNMENT, [], course, workers=2, progress=False,
                          limits=Limits(call_timeout_s=CALL_TIMEOUT_S))
    results = {s: json.loads((course / "results" / ASSIGNMENT / f"{s}.json").read_text()) for s in profiles}
    return course, {s: p[ASSIGNMENT] for s, p in profiles.items()}, summary, results


def _by_function(result) -> dict[str, float]:
    scores: dict[str, float] = {}
    for t in result["tests"]:
        fn = t["extra_data"]["function"]
        scores[fn] = scores.get(fn, 0.0) + t["score"]
    return scores


def _students(profiles, kind):
    return [s for s, p in profiles.items() if p.kind == kind]


def test_the_class_has_every_kind_and_every_trick(graded):
    _, profiles, _, _ = graded
    assert {p.kind for p in profiles.values()} == {"complete", "partial", "mistake", "hostile"}
    assert {p.hostile for p in profiles.values() if p.kind == "hostile"} == set(HOSTILE_KINDS)
    functions = set(points_by_function(ASSIGNMENT))
    assert all(p.function in functions for p in profiles.values() if p.function)


def test_the_batch_completes_with_a_result_for_everyone(graded):
    _, profiles, summary, results = graded
    assert sorted(summary.graded) == sorted(profiles) and not summary.errors
    assert set(results) == set(profiles)


def test_complete_scores_every_point(graded):
    _, profiles, _, results = graded
    for s in _students(profiles, "complete"):
        assert results[s]["score"] == results[s]["max_score"] > 0, s


def test_partial_scores_exactly_its_implemented_functions(graded):
    _, profiles, _, results = graded
    points = points_by_function(ASSIGNMENT)
    for s in _students(profiles, "partial"):
        stubs = profiles[s].stubs
        assert stubs
        assert results[s]["score"] == pytest.approx(sum(v for f, v in points.items() if f not in stubs)), s


def _wrong(case, function) -> bool:
    """Does ``function`` get ``case`` wrong, judged with a plain np.allclose (not the grader's comparison)?"""
    try:
        with np.errstate(all="ignore"):
            got = function(*copy.deepcopy(case.args), **case.kwargs)
    except Exception as exc:
        return case.kind != "raises" or not any(t.__name__ in case.raises for t in type(exc).__mro__)
    if case.kind == "raises":
        return True
    if case.kind == "exact":
        return got != case.expected
    got, expected = np.asarray(got), np.asarray(case.expected)
    return got.shape != expected.shape or not np.allclose(got, expected, rtol=case.rtol, atol=case.atol,
                                                          equal_nan=True)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow mistakes overflow, here as in the worker
def test_each_mistake_is_diagnosed_and_loses_exactly_the_cases_its_code_gets_wrong(graded):
    course, profiles, _, results = graded
    points = points_by_function(ASSIGNMENT)
    students = _students(profiles, "mistake")
    assert len(students) >= 3
    for s in students:
        profile, result = profiles[s], results[s]
        fn = profile.function
        namespace = load_notebook(course / "submitted" / s / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
        cases = [c for c in cases_for(ASSIGNMENT) if c.function == fn]
        wrong = {c.case_id for c in cases if _wrong(c, namespace[fn])}
        # the cases it loses by convkit_check.credit's rule
        wrong = {c.case_id for c in lost_cases(cases, lambda c, wrong=wrong: c.case_id in wrong)}
        tests = {t["extra_data"]["case"]: t for t in result["tests"] if t["extra_data"]["function"] == fn}
        lost = {cid for cid, t in tests.items() if t["score"] < t["max_score"]}
        assert lost == wrong and lost, (s, profile.describe(), lost, wrong)
        if profile.diagnosed:
            named = {c.case_id for c in cases if profile.mistake in c.diagnoses}
            assert named and named <= lost, (s, named, lost)
            for cid in named:
                assert profile.mistake in (tests[cid]["extra_data"]["diagnosis"] or ""), (s, cid)
        others = _by_function(result)
        assert all(others[f] == points[f] for f in points if f != fn), (s, others)


def test_each_hostile_submission_costs_points_only_in_its_function(graded):
    _, profiles, summary, results = graded
    points = points_by_function(ASSIGNMENT)
    for s in _students(profiles, "hostile"):
        profile, result = profiles[s], results[s]
        scores = _by_function(result)
        assert all(scores[f] == points[f] for f in points if f != profile.function), (s, profile.hostile, scores)
        if profile.hostile == "prints_a_lot":  # noisy but correct
            assert scores[profile.function] == points[profile.function]
        else:
            assert scores[profile.function] < points[profile.function], (s, profile.hostile)
        if profile.hostile == "loop_forever":
            assert s in summary.timed_out
            kinds = {t["extra_data"]["kind"] for t in result["tests"] if t["score"] < t["max_score"]}
            assert kinds == {"timeout"}


def test_late_submissions_are_late_in_nbgrader_gradebook(graded):
    course, profiles, _, _ = graded
    from nbgrader.api import Gradebook

    assert any(p.late for p in profiles.values()) and not all(p.late for p in profiles.values())

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="convkit") as gb:
        for s, p in profiles.items():
            late = gb.find_submission(ASSIGNMENT, s).total_seconds_late
            assert (late > 0) == p.late, (s, p.timestamp, late)


def test_the_same_seed_writes_the_same_files_and_another_seed_other_ones(graded, tmp_path):
    course, profiles, _, _ = graded
    copies = {}
    for name, seed in (("same", 0), ("other", 1)):
        target = tmp_path / name
        for part in ("release", "source"):
            shutil.copytree(course / part / ASSIGNMENT, target / part / ASSIGNMENT)
        again = generate_class(target, [ASSIGNMENT], n_students=N_STUDENTS, seed=seed)
        copies[name] = ({s: p[ASSIGNMENT] for s, p in again.items()}, target)
    same, target = copies["same"]
    assert same == profiles
    for s in profiles:
        rel = f"submitted/{s}/{ASSIGNMENT}"
        assert not filecmp.dircmp(course / rel, target / rel).diff_files, s
    assert copies["other"][0] != profiles


def test_every_coded_mistake_of_a_function_in_the_class_is_used_once_the_class_is_big_enough(graded, tmp_path):
    course, _, _, _ = graded
    target = tmp_path / "big"
    for part in ("release", "source"):
        shutil.copytree(course / part / ASSIGNMENT, target / part / ASSIGNMENT)
    profiles = generate_class(target, [ASSIGNMENT], n_students=30, seed=0, hostile=False)
    used = {(p[ASSIGNMENT].mistake, p[ASSIGNMENT].function) for p in profiles.values()}
    functions = set(points_by_function(ASSIGNMENT))
    coded = {(m, f) for m, by_fn in MISTAKE_CODE.items() for f in by_fn if f in functions}
    assert coded <= used
    assert not any(p[ASSIGNMENT].kind == "hostile" for p in profiles.values())
