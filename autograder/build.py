"""``autograder init`` and ``autograder build``: the course directory (nbgrader's layout) and the student releases.

``init`` copies the kit's source assignments (package data, :func:`autograder.assignment.packaged_sources`) into
``COURSE/source/<name>/``, as ``nbgrader quickstart`` makes a course. ``build`` works on the course's own copy
(seeding a missing one from the kit's): for each assignment its public cases are frozen in ``COURSE/source/<name>/``
(``public_cases.json`` + ``.npz``, expected values from the live reference), the student files of
``autograder/student/`` (the self-check module, conftest, pytest.ini, the test file) and the assignment's release
files are added, and nbgrader's ``generate_assignment`` turns the source notebook into stubs in
``COURSE/release/<name>/``. Nothing else reaches the release: tests/assignments/test_leaks.py scans it for the
reference, hidden cases and solution text.

nbgrader gotchas handled here (FINDINGS.md): the gradebook's creation shells out to ``alembic`` through PATH, so
the running interpreter's bin folder is put first on PATH; the configuration is passed as an object (a
``--config`` file is ignored) and is also written to ``COURSE/nbgrader_config.py`` for later nbgrader commands and
autograder verbs (:class:`autograder.course.Course`); the kernel is forced to ``python3``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from autograder.assignment import packaged_sources
from autograder.course import COURSE_ID, DEFAULT_ROOT, Course, as_course, tools_on_path

__all__ = [
    "COURSE_ID",
    "DEFAULT_COURSE",
    "SOURCE_ROOT",
    "STUDENT_DIR",
    "BuildError",
    "available_assignments",
    "nbgrader_config",
    "write_nbgrader_config",
    "stage_assignment",
    "init_course",
    "build_course",
]

SOURCE_ROOT = packaged_sources()  # the kit's source assignments, as installed
STUDENT_DIR = Path(__file__).resolve().parent / "student"
DEFAULT_COURSE = DEFAULT_ROOT
# Files of autograder/student/ that are package plumbing, not something a student needs.
_NOT_SHIPPED = {"__init__.py", "__pycache__"}
_IGNORE_IN_SOURCE = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc")

_MISSING_MESSAGE = "no source notebook for assignment {name!r}: expected {path}"
_FAILED_MESSAGE = "nbgrader generate_assignment failed for {name!r}: {error}\n{log}"
_NONE_MESSAGE = "no assignment has a source notebook under {course} or {kit}"


class BuildError(RuntimeError):
    """A release could not be built (missing source, nbgrader failure); the message says which and why."""


def _registered(name: str):
    from autograder.suites import assignment

    try:
        return assignment(name)
    except ValueError as exc:
        raise BuildError(str(exc)) from None


def available_assignments() -> list[str]:
    """The registered assignments whose source notebook the kit ships, in course order."""
    from autograder.suites import assignments

    return [a.name for a in assignments() if (a.packaged_source() / a.notebook).is_file()]


def nbgrader_config(course: Path, course_id: str | None = None, exchange: Path | None = None,
                    db_url: str | None = None) -> dict:
    """The nbgrader settings of a course directory, as ``{"Section.option": value}``; ``exchange`` is the exchange
    folder of ``nbgrader release_assignment`` / ``collect`` (nbgrader's default, /srv/nbgrader/exchange, when None)."""
    return Course.open(course, db_url=db_url, course_id=course_id, exchange=exchange).nbgrader_config()


def write_nbgrader_config(course: Path, course_id: str | None = None, exchange: Path | None = None,
                          db_url: str | None = None) -> Path:
    """``DIR/nbgrader_config.py``, where nbgrader commands run in ``DIR`` look for their settings."""
    return Course.open(course, db_url=db_url, course_id=course_id, exchange=exchange).write_config()


def stage_assignment(name: str, dest: Path, source: Path | None = None) -> Path:
    """Make ``dest`` the folder nbgrader releases (and where the source notebook's check cells can run): a copy of
    ``source`` (default: the kit's ``<name>/`` folder; none when ``dest`` is ``source`` itself), with the public
    cases frozen and the student files and the assignment's release files added."""
    from autograder.suites import freeze_public

    a = _registered(name)
    dest = Path(dest)
    source = Path(source) if source is not None else a.packaged_source()
    if dest.resolve() != source.resolve():
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(source, dest, ignore=_IGNORE_IN_SOURCE)
    freeze_public(name, dest)
    for item in sorted(STUDENT_DIR.iterdir()):
        if item.is_file() and item.name not in _NOT_SHIPPED:
            shutil.copy2(item, dest / item.name)
        elif item.is_dir() and item.name not in _NOT_SHIPPED:  # the convkit_check package
            shutil.copytree(item, dest / item.name, ignore=_IGNORE_IN_SOURCE)
    if a.release_files is not None:
        a.release_files(dest)
    return dest


def _seed(course: Course, names: list[str]) -> dict[str, Path]:
    """``COURSE/source/<name>/`` for each of ``names``: the course's own copy, or the kit's copied there."""
    folders = {}
    for name in names:
        a, folder = _registered(name), course.source_dir(name)
        if not (folder / a.notebook).is_file():
            if not (a.packaged_source() / a.notebook).is_file():
                raise BuildError(_MISSING_MESSAGE.format(name=name, path=folder / a.notebook))
            shutil.copytree(a.packaged_source(), folder, ignore=_IGNORE_IN_SOURCE, dirs_exist_ok=True)
        folders[name] = folder
    return folders


def init_course(course=DEFAULT_COURSE, assignments=None, *, course_id: str | None = None,
                exchange: Path | None = None, db_url: str | None = None) -> dict[str, Path]:
    """Copy the kit's source assignments (default: all) into ``COURSE/source/<name>/`` and write the course's
    nbgrader config, as ``nbgrader quickstart`` does; a source folder the course already has is kept (it is the
    instructor's). Returns ``{name: source folder}``."""
    course = as_course(course, db_url, course_id, exchange)
    _check_gradebook(course, connect=False)
    folders = _seed(course, list(assignments) if assignments else available_assignments())
    course.write_config()
    return folders


def _check_gradebook(course: Course, connect: bool) -> None:
    """A gradebook URL that cannot work stops here, named (masked), before anything is built; ``connect``: also
    reach its server (``build`` writes there, ``init`` only records the URL, for a server that may come later)."""
    from autograder.gradebook import GradebookURLError, check_reachable, check_url

    try:
        (check_reachable if connect else check_url)(course.db_url)
    except GradebookURLError as exc:
        raise BuildError(str(exc)) from None


def _generate(names: list[str], course: Course) -> None:
    from nbgrader.apps import NbGraderAPI

    from autograder.gradebook import scrub

    with tools_on_path():
        api = NbGraderAPI(config=course.traitlets_config())
        for name in names:
            result = api.generate_assignment(name, force=True, create=True)
            if not result.get("success"):
                message = _FAILED_MESSAGE.format(name=name, error=result.get("error"), log=result.get("log"))
                raise BuildError(scrub(message, course.db_url))  # nbgrader's log may echo the gradebook URL


def build_course(course=DEFAULT_COURSE, assignments=None, *, course_id: str | None = None,
                 exchange: Path | None = None, db_url: str | None = None) -> dict[str, Path]:
    """Build ``COURSE/release/<name>/`` from ``COURSE/source/<name>/`` for ``assignments`` (default: every
    registered one whose source the course or the kit has; a missing course source is seeded from the kit's).
    Returns ``{name: release folder}``; BuildError names a missing or failing assignment.
    ``exchange``: the nbgrader exchange folder to configure (created, world-writable as nbgrader needs);
    ``db_url``: the gradebook's SQLAlchemy URL (default: the one the course's config records, else sqlite
    ``COURSE/gradebook.db``), recorded in ``COURSE/nbgrader_config.py`` for every later verb.
    ``course`` may be a path or a :class:`~autograder.course.Course`."""
    from autograder.suites import assignments as registered

    course = as_course(course, db_url, course_id, exchange)
    if assignments:
        names = list(assignments)
    else:
        names = [a.name for a in registered()
                 if (course.source_dir(a.name) / a.notebook).is_file() or (a.packaged_source() / a.notebook).is_file()]
        if not names:
            raise BuildError(_NONE_MESSAGE.format(course=course.source, kit=SOURCE_ROOT))
    _check_gradebook(course, connect=True)
    _seed(course, names)
    course.write_config()
    if course.exchange is not None:
        course.exchange.mkdir(parents=True, exist_ok=True)
        course.exchange.chmod(0o777)  # nbgrader's exchange: every student writes into its inbound folder
    for name in names:
        stage_assignment(name, course.source_dir(name), source=course.source_dir(name))
        release = course.release_dir(name)
        if release.exists():  # nbgrader leaves files of an earlier build that the source no longer has
            shutil.rmtree(release)
    _generate(names, course)
    return {name: course.release_dir(name) for name in names}
