"""A generated class: realistic student submissions in nbgrader's ``submitted/`` layout, for the demo, the grading
tests and the throughput benchmark.

Every submission starts from the RELEASED notebook (the stubs a student gets) and fills its ``raise
NotImplementedError()`` lines the way a student would: with the solution of the source notebook (``complete``),
leaving some as stubs (``partial``), with one function written with a known mistake as plain student code
(``mistake``, bodies in :data:`MISTAKE_CODE`), or with one hostile trick (``hostile``, :data:`HOSTILE_CODE`).
Each one is described by a :class:`Profile`, which the demo prints and the tests compare with the grades; the
notebooks themselves are built by :mod:`autograder.factory`, the tests' factory too.

Lateness: each submission gets nbgrader's ``timestamp.txt``; about one in eight is after the assignment's due date
(:data:`DUE_DATES`). :func:`generate_class` writes those due dates into the course's gradebook (nbgrader's
``Gradebook.update_or_create_assignment``) when the gradebook exists -- ``autograder build`` creates it -- so
nbgrader computes the lateness itself; pass ``record_due_dates=False`` to leave the gradebook alone.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypedDict

import nbformat

from autograder.factory import (HOSTILE_CODE, HOSTILE_KINDS, MISTAKE_CODE, TESTING_PATCH, filled_release,
                                graded_functions, write_submission)
from autograder.mistakes import MISTAKES
from autograder.suites import assignment_names

__all__ = ["Profile", "MISTAKE_CODE", "HOSTILE_CODE", "HOSTILE_KINDS", "STUDENT_NAMES", "DUE_DATES",
           "TIMESTAMP_FORMAT", "generate_class", "student_names", "write_due_dates"]

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"  # nbgrader's Exchange.timestamp_format
DUE_DATES = {a: datetime(2026, 2, 2 + 7 * i, 23, 59, tzinfo=UTC)
             for i, a in enumerate(assignment_names())}
LATE_SHARE = 0.125
STUDENT_NAMES = ("amara", "bruno", "chen", "dalia", "emeka", "farah", "goran", "hana", "ivan", "jia", "kofi",
                 "lena", "mateo", "nadia", "omar", "priya", "quinn", "rosa", "sven", "tomas", "uma", "viktor",
                 "wen", "ximena", "yusuf", "zoe", "aiko", "bilal", "carmen", "dmitri", "elif", "femi")


@dataclass(frozen=True)
class Profile:
    """What one submission is. ``kind`` is complete, partial, mistake or hostile; ``function`` is the function a
    mistake or a hostile trick sits in; ``stubs`` the functions left as released (partial, patch_testing)."""

    kind: str
    assignment: str
    function: str | None = None
    mistake: str | None = None
    hostile: str | None = None
    stubs: tuple[str, ...] = ()
    timestamp: str = ""
    late: bool = False
    diagnosed: bool = field(default=False)

    def describe(self) -> str:
        late = " (late)" if self.late else ""
        if self.kind == "mistake":
            named = "" if self.diagnosed else " (no named diagnosis)"
            return f"mistake {self.mistake} in {self.function}{named}{late}"
        if self.kind == "hostile":
            return f"hostile {self.hostile} in {self.function}{late}"
        if self.kind == "partial":
            return f"partial: {', '.join(self.stubs)} left as stubs{late}"
        return f"complete{late}"


class _Spec(TypedDict, total=False):
    """The fields of a :class:`Profile` that :func:`_profiles` draws (the rest come with the notebook)."""

    kind: str
    function: str
    mistake: str
    hostile: str
    stubs: tuple[str, ...]


def student_names(n: int) -> list[str]:
    """``n`` distinct, deterministic ids: a first name and a number (``amara01``, ``bruno02``, ...)."""
    return [f"{STUDENT_NAMES[i % len(STUDENT_NAMES)]}{i + 1:02d}" for i in range(n)]


def _notebook(released: nbformat.NotebookNode, source: nbformat.NotebookNode, profile: Profile):
    """The submission of ``profile``: the released notebook with its stubs filled as the profile says."""
    def body_for(fn: str, solution: str) -> str | None:
        if fn in profile.stubs:
            return None
        if fn == profile.function and profile.kind == "mistake" and profile.mistake is not None:
            return MISTAKE_CODE[profile.mistake][fn]
        if fn == profile.function and profile.kind == "hostile" and profile.hostile is not None:
            code = HOSTILE_CODE[profile.hostile][fn]
            return code.replace("{solution}", solution) if code is not None else None
        return solution

    nb = filled_release(released, source, body_for)
    if profile.hostile == "patch_testing":
        first_solution = next((c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")), None)
        if first_solution is not None:
            first_solution.source += TESTING_PATCH
    return nb


def _menu(functions: list[str], hostile) -> tuple[list[_Spec], list[_Spec]]:
    """Every distinct submission kind this assignment allows: the mistakes and tricks whose function it has."""
    mistakes = [_Spec(kind="mistake", mistake=m, function=f) for m, by_fn in MISTAKE_CODE.items()
                for f in by_fn if f in functions]
    kinds = HOSTILE_KINDS if hostile is True else tuple(hostile or ())
    tricks = []
    for kind in kinds:
        fn = next((f for f in HOSTILE_CODE[kind] if f in functions), None)
        if fn is not None:
            tricks.append(_Spec(kind="hostile", hostile=kind, function=fn))
    return mistakes, tricks


def _profiles(assignment: str, functions: list[str], n: int, rng: random.Random, hostile) -> list[_Spec]:
    """``n`` submission specs: one complete and one partial, then mistakes and tricks interleaved (so a small class
    still has both), then a mix of complete, partial and repeated mistakes."""
    mistakes, tricks = _menu(functions, hostile)
    rng.shuffle(mistakes)
    rng.shuffle(tricks)
    specs = [_Spec(kind="complete"), _Spec(kind="partial")]
    for i in range(max(len(mistakes), len(tricks))):
        specs += mistakes[i:i + 1] + tricks[i:i + 1]
    while len(specs) < n:
        roll = rng.random()
        specs.append(_Spec(kind="complete") if roll < 0.45 else _Spec(kind="partial") if roll < 0.75 or not mistakes
                      else rng.choice(mistakes).copy())
    specs = specs[:n]
    for spec in specs:
        if spec["kind"] == "partial":  # ran out of time: the last functions (later ones build on earlier ones)
            spec["stubs"] = tuple(functions[-rng.randint(1, max(1, len(functions) // 2)):])
        elif spec.get("hostile") == "patch_testing":
            spec["stubs"] = (spec["function"],)
    rng.shuffle(specs)
    return specs


def _timestamp(assignment: str, rng: random.Random) -> tuple[str, bool]:
    due = DUE_DATES.get(assignment, DUE_DATES[assignment_names()[0]])
    late = rng.random() < LATE_SHARE
    offset = timedelta(hours=rng.uniform(0.5, 48.0), seconds=rng.randrange(60), microseconds=rng.randrange(10 ** 6))
    return (due + offset if late else due - offset).strftime(TIMESTAMP_FORMAT), late


def write_due_dates(course_dir, assignments, db_url: str | None = None, course_id: str | None = None) -> None:
    """Record :data:`DUE_DATES` of ``assignments`` in the course's nbgrader gradebook (lateness is nbgrader's).
    ``course_dir``: a path or a :class:`~autograder.course.Course`; ``db_url``/``course_id`` override its config's."""
    from nbgrader.api import Gradebook

    from autograder.course import as_course, tools_on_path

    course = as_course(course_dir, db_url, course_id)
    with tools_on_path(), Gradebook(course.db_url, course_id=course.course_id) as gb:
        for a in assignments:
            gb.update_or_create_assignment(a, duedate=DUE_DATES[a].replace(tzinfo=None))


def generate_class(course_dir, assignments, n_students: int = 30, seed: int = 0, *, hostile=True,
                   record_due_dates: bool = True) -> dict[str, dict[str, Profile]]:
    """Write ``n_students`` submissions of each assignment into ``course_dir/submitted/<student>/<assignment>/``.

    Needs the releases of ``autograder build`` (``course_dir/release/<a>/<a>.ipynb``) and reads the solutions from
    ``course_dir/source/<a>/<a>.ipynb``. ``hostile``: True for every trick of :data:`HOSTILE_KINDS`, False for none,
    or a collection of kinds. The same ``seed`` gives the same files. Returns ``{student: {assignment: Profile}}``.
    """
    from autograder.course import as_course

    course = as_course(course_dir)
    names = student_names(n_students)
    profiles: dict[str, dict[str, Profile]] = {s: {} for s in names}
    for a in assignments:
        released_path, source_path = course.release_dir(a) / f"{a}.ipynb", course.source_dir(a) / f"{a}.ipynb"
        if not released_path.is_file() or not source_path.is_file():
            raise FileNotFoundError(f"no release of {a!r} in {course.root}: run `autograder build --course "
                                    f"{course.root} {a}`")
        released = nbformat.read(str(released_path), as_version=4)
        source = nbformat.read(str(source_path), as_version=4)
        rng = random.Random(f"{seed}-{a}")
        functions = graded_functions(released)
        for student, spec in zip(names, _profiles(a, functions, n_students, rng, hostile), strict=True):
            stamp, late = _timestamp(a, rng)
            profile = Profile(assignment=a, timestamp=stamp, late=late,
                              diagnosed=spec.get("mistake") in MISTAKES, **spec)
            write_submission(course, student, _notebook(released, source, profile), a, timestamp=stamp)
            profiles[student][a] = profile
    if record_due_dates and course.gradebook_url() is not None:
        write_due_dates(course, assignments)
    return profiles
