"""The tests' course of submissions: the ``layers`` release of a course built with nbgrader, the honest and the
mistaken notebooks made from it by :mod:`autograder.factory`, and what each must score.

The notebook helpers here are the package factory's, bound to this course: ``assignment`` defaults to ``layers``
and solutions come from the repository's source notebooks (``SOURCE_ROOT``). Each :class:`HonestSubmission` and
:class:`MistakeSubmission` states which functions lose their points and how, so the test's expected score comes from
the case table (``cases_for``), never from the grader.
"""
from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder import factory
from autograder.build import SOURCE_ROOT, build_course
from autograder.factory import MISTAKE_CODE, delete_cells, insert_cell
from autograder.notebooks import find_cell, read_notebook
from autograder.sandbox import Limits
from autograder.suites import cases_for, points_by_function, twins_for

__all__ = ["ASSIGNMENT", "REPO", "WORKERS", "BATCH_LIMITS", "SOURCE_ROOT", "released_notebook", "honest_notebook",
           "with_stubs", "replace_body", "honest_body", "guarded_body", "insert_cell", "delete_cells",
           "write_submission", "expected_score", "HonestSubmission", "HONEST", "TWIN_PREFIX", "MistakeSubmission",
           "check_case_by_case", "MISTAKES", "lost_cases", "mistake_expected", "pristine_course", "fresh_course"]

ASSIGNMENT = "layers"
REPO = Path(__file__).resolve().parents[2]
WORKERS = 2
# Short enough that an endless loop costs ~1.5 s per case (not the 10 s default), long enough for any correct
# function of this assignment on small arrays (milliseconds) on a loaded 2-core machine.
BATCH_LIMITS = Limits(call_timeout_s=1.5, load_timeout_s=20.0, memory_mb=512)

# ----------------------------------------------------------------------------------------------- notebooks
_cell = find_cell  # the tests' name for it


def _source(assignment: str) -> Path:
    return SOURCE_ROOT / assignment / f"{assignment}.ipynb"


def released_notebook(course: Path, assignment: str = ASSIGNMENT) -> nbformat.NotebookNode:
    return factory.released_notebook(course, assignment)


def honest_notebook(course: Path, assignment: str = ASSIGNMENT) -> nbformat.NotebookNode:
    """The release as a student gets it, every stub filled with the source notebook's solution."""
    return factory.honest_notebook(course, assignment, _source(assignment))


def with_stubs(nb, course: Path, functions, assignment: str = ASSIGNMENT):
    """``nb`` with the solution cells of ``functions`` put back to the released stubs."""
    return factory.with_stubs(nb, released_notebook(course, assignment), functions)


def _source_with(grade_id: str) -> nbformat.NotebookNode:
    """Whichever source notebook has the cell ``grade_id`` (grade ids are unique across the assignments)."""
    for path in sorted(SOURCE_ROOT.glob("*/*.ipynb")):
        nb = read_notebook(path)
        try:
            find_cell(nb, grade_id)
        except LookupError:
            continue
        return nb
    raise LookupError(f"no source notebook has a cell {grade_id!r}")


def replace_body(nb, function: str, body: str):
    """``nb`` with the solution region of ``function`` replaced by ``body`` (autograder.factory.replace_body, on
    whichever source notebook has the function)."""
    return factory.replace_body(nb, function, body, _source_with(f"{function}_solution"))


def honest_body(function: str, assignment: str = ASSIGNMENT) -> str:
    """The source notebook's solution region of ``function``, dedented."""
    return factory.honest_body(_source(assignment), function)


def guarded_body(function: str, prefix: str) -> str:
    """``prefix`` (an attack) then the honest solution: the function is right only if the attack worked."""
    return textwrap.dedent(prefix).strip() + "\n" + honest_body(function)


def write_submission(course: Path, student: str, content, assignment: str = ASSIGNMENT) -> Path:
    """``content`` (a notebook or raw bytes) as nbgrader's ``submitted/<student>/<assignment>/<assignment>.ipynb``."""
    return factory.write_submission(course, student, content, assignment)


# ----------------------------------------------------------------------------------------------- expected scores
def expected_score(broken: dict[str, str], assignment: str = ASSIGNMENT) -> float:
    """Total points minus what the ``broken`` functions lose: all of their points. ``"body"``: the solution is wrong
    or hostile (its input checks stand, but reject bad input for a function that computes nothing right, which
    earns nothing: convkit_check.credit). ``"stub"``: the released stub. ``"all"``: the function is missing. Points
    are whole or half numbers, so these sums are exact."""
    return sum(points for function, points in points_by_function(assignment).items() if function not in broken)


# ----------------------------------------------------------------------------------------------- honest work
@dataclass(frozen=True)
class HonestSubmission:
    student: str
    stubs: tuple = ()

    def build(self, course: Path):
        return with_stubs(honest_notebook(course), course, self.stubs)

    @property
    def broken(self) -> dict:
        return {f: "stub" for f in self.stubs}


HONEST = [HonestSubmission("honest_full"), HonestSubmission("honest_partial_a", ("relu", "softmax")),
          HonestSubmission("honest_partial_b", ("max_pool2d", "cross_entropy"))]
TWIN_PREFIX = "twin_"  # the same notebooks again, graded inside the hostile batch

# ----------------------------------------------------------------------------------------------- named mistakes
@dataclass(frozen=True)
class MistakeSubmission:
    """A realistic buggy solution of ``function`` that makes ``mistake`` (a name of autograder.mistakes).
    ``fails``: the cases it gets wrong (default: those where the mistake changes the answer)."""

    mistake: str
    function: str
    body: str
    fails: Callable | None = None
    assignment: str = ASSIGNMENT

    @property
    def student(self) -> str:
        return f"mistake_{self.mistake}_{self.function}"

    def failing(self, case) -> bool:
        return self.fails(case) if self.fails else case.function == self.function and self.mistake in case.diagnoses


def check_case_by_case(result: dict, m: MistakeSubmission) -> dict[str, int]:
    """Assert every case of ``result`` is scored as ``m`` makes it (:func:`lost_cases`: the cases it breaks fail,
    the right ones of a function that passes no hidden case are "unconfirmed", the rest pass) and its mistake is
    named on each broken case whose answer it changes; returns how many were named, by visibility."""
    from autograder.mistakes import MISTAKES as KNOWN
    from autograder.student.convkit_check import DIAGNOSIS_MESSAGE

    cases = {(c.function, c.case_id): c for c in cases_for(m.assignment)}
    lost = {(c.function, c.case_id) for c in lost_cases(list(cases.values()), m.failing)}
    named = {"visible": 0, "hidden": 0}
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
            assert DIAGNOSIS_MESSAGE.format(name=m.mistake, explanation=KNOWN[m.mistake].explanation) in t["output"]
            named[case.visibility] += 1
    return named


def _demo_class(mistake: str, function: str) -> MistakeSubmission:
    """The body the demo's class writes for this mistake (autograder.factory.MISTAKE_CODE)."""
    return MistakeSubmission(mistake, function, MISTAKE_CODE[mistake][function])


_WINDOWS = "np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))"
# The demo's bodies where they are the ones wanted here; the others are other ways to write the same mistake (a
# stride dropped from a window view rather than from a loop, the dtype kept, a transposed weight that only runs on
# square weights), so one mistake is caught however it is written.
MISTAKES = [
    _demo_class("relu_wrong_side", "relu"),
    MistakeSubmission("stride_ignored", "max_pool2d", f"windows = {_WINDOWS}\nreturn windows.max(axis=(-2, -1))"),
    _demo_class("sum_instead_of_mean", "avg_pool2d"),
    _demo_class("mean_instead_of_sum", "sum_pool2d"),
    MistakeSubmission("flatten_channels_last", "flatten",
                      "return np.moveaxis(x, 1, -1).reshape(x.shape[0], -1)"),
    MistakeSubmission("missing_bias", "dense_forward",
                      "dtype = same_float_dtype(x, w, b)\nreturn x.astype(dtype) @ w.astype(dtype)"),
    # x @ w.T only runs when w is square; the other cases fail with an error, the bad-input case still raises.
    MistakeSubmission("weights_transposed", "dense_forward",
                      "dtype = same_float_dtype(x, w, b)\nreturn x.astype(dtype) @ w.astype(dtype).T + b.astype(dtype)",
                      fails=lambda c: c.function == "dense_forward" and c.kind != "raises"),
    _demo_class("softmax_overflow", "softmax"),
    _demo_class("softmax_wrong_axis", "softmax"),
    MistakeSubmission("cross_entropy_sum_not_mean", "cross_entropy",
                      "z64 = z.astype(np.float64)\ntop = z64.max(axis=1, keepdims=True)\n"
                      "lse = np.log(np.exp(z64 - top).sum(axis=1)) + top[:, 0]\n"
                      "return z.dtype.type(np.sum(lse - z64[np.arange(z.shape[0]), y]))"),
    MistakeSubmission("softmax_overflow", "cross_entropy",
                      "p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)\n"
                      "return np.mean(-np.log(p[np.arange(z.shape[0]), y]))"),
]


def lost_cases(cases, failing) -> list:
    """The cases a function loses when it gets ``failing(case)`` wrong, by convkit_check.credit's rule: those; a
    public case without a twin (suites.twins_for: no float input) when its function gets every hidden case wrong (a
    twin fails where its public case fails: the same call on scaled inputs); a bad-input case when its function
    earns nothing on any ordinary case."""
    lost = [c for c in cases if failing(c)]
    by_function: dict = {}
    for c in cases:
        by_function.setdefault(c.function, []).append(c)
    for mine in by_function.values():
        twins = twins_for(mine[0].assignment, mine)
        hidden = [c for c in mine if c.kind != "raises" and c.visibility != "visible"]
        if hidden and all(failing(c) for c in hidden):
            lost += [c for c in mine if c.kind != "raises" and c.visibility == "visible"
                     and (c.function, c.case_id) not in twins and c not in lost]
        if all(c in lost for c in mine if c.kind != "raises"):
            lost += [c for c in mine if c.kind == "raises" and c not in lost]
    return lost


def mistake_expected(m: MistakeSubmission) -> float:
    """Total points minus the cases the mistake loses (:func:`lost_cases`)."""
    lost = lost_cases(cases_for(m.assignment), m.failing)
    return sum(points_by_function(m.assignment).values()) - sum(c.points for c in lost)

# ----------------------------------------------------------------------------------------------- courses
_CACHE: dict = {}


def pristine_course(tmp_path_factory) -> Path:
    """A course with ``layers`` built by nbgrader, once per test process; copy it with :func:`fresh_course`."""
    if "pristine" not in _CACHE:
        course = tmp_path_factory.mktemp("pristine-course")
        build_course(course, [ASSIGNMENT])
        _CACHE["pristine"] = course
    return _CACHE["pristine"]


def fresh_course(tmp_path_factory, name: str) -> Path:
    """A copy of the pristine course (its release, source and gradebook), to grade into."""
    dest = tmp_path_factory.mktemp(name) / "course"
    shutil.copytree(pristine_course(tmp_path_factory), dest)
    return dest

