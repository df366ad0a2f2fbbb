"""``autograder build``: the course directory (nbgrader's layout) and the student releases.

For each assignment: ``assignments/source/<name>/`` is copied to ``DIR/source/<name>/``, its public cases are
frozen there (``public_cases.json`` + ``.npz``, expected values from the live reference), the student files of
``autograder/student/`` (the self-check module, conftest, pytest.ini, the test file) are added, and nbgrader's
``generate_assignment`` turns the source notebook into stubs in ``DIR/release/<name>/``. Nothing else reaches the
release: tests/assignments/test_leaks.py scans it for the reference, hidden cases and solution text.

nbgrader gotchas handled here (FINDINGS.md): the gradebook's creation shells out to ``alembic`` through PATH, so
the running interpreter's bin folder is put first on PATH; the configuration is passed as an object (a
``--config`` file is ignored) and is also written to ``DIR/nbgrader_config.py`` for later nbgrader commands;
the kernel is forced to ``python3``.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
from pathlib import Path
from typing import Callable

__all__ = [
    "ASSIGNMENTS",
    "COURSE_ID",
    "DEFAULT_COURSE",
    "SOURCE_ROOT",
    "STUDENT_DIR",
    "RELEASE_EXTRAS",
    "BuildError",
    "available_assignments",
    "nbgrader_config",
    "write_nbgrader_config",
    "stage_assignment",
    "build_course",
]

ROOT = Path(__file__).resolve().parents[1]
SOURCE_ROOT = ROOT / "assignments" / "source"
STUDENT_DIR = Path(__file__).resolve().parent / "student"
DEFAULT_COURSE = Path("course")
COURSE_ID = "convkit"
ASSIGNMENTS = ("convolution", "layers", "backprop", "cnn")
KERNEL_NAME = "python3"
# Files of autograder/student/ that are package plumbing, not something a student needs.
_NOT_SHIPPED = {"__init__.py", "__pycache__"}
_IGNORE_IN_SOURCE = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc")



def _cnn_training_digits(dest: Path) -> None:
    """The cnn notebook's training digits (never the held-out part), written by its authoring script."""
    if str(ROOT) not in sys.path:  # the authoring scripts live in the repository, not in the installed package
        sys.path.insert(0, str(ROOT))
    from assignments.authoring.cnn import write_training_digits

    write_training_digits(dest)


# Extra release files per assignment: name -> function(dest_dir) writing them into DIR/source/<name>/ before
# nbgrader copies that folder to the release.
RELEASE_EXTRAS: dict[str, Callable[[Path], None]] = {"cnn": _cnn_training_digits}

_MISSING_MESSAGE = "no source notebook for assignment {name!r}: expected {path}"
_UNKNOWN_MESSAGE = "unknown assignment {name!r}; the assignments are {known}"
_FAILED_MESSAGE = "nbgrader generate_assignment failed for {name!r}: {error}\n{log}"


class BuildError(RuntimeError):
    """A release could not be built (missing source, nbgrader failure); the message says which and why."""


def _notebook(name: str) -> Path:
    return SOURCE_ROOT / name / f"{name}.ipynb"


def available_assignments() -> list[str]:
    """The assignments whose source notebook exists, in course order."""
    return [name for name in ASSIGNMENTS if _notebook(name).is_file()]


def nbgrader_config(course: Path, course_id: str = COURSE_ID, exchange: Path | None = None,
                    db_url: str | None = None) -> dict:
    """The nbgrader settings of a course directory, as ``{"Section.option": value}``; ``exchange`` is the exchange
    folder of ``nbgrader release_assignment`` / ``collect`` (nbgrader's default, /srv/nbgrader/exchange, when None)."""
    course = Path(course).resolve()
    config = {
        "CourseDirectory.root": str(course),
        "CourseDirectory.course_id": course_id,
        "CourseDirectory.db_url": db_url or f"sqlite:///{course / 'gradebook.db'}",
        "Execute.kernel_name": KERNEL_NAME,
    }
    if exchange is not None:
        config["Exchange.root"] = str(Path(exchange).resolve())
    return config


def write_nbgrader_config(course: Path, course_id: str = COURSE_ID, exchange: Path | None = None,
                          db_url: str | None = None) -> Path:
    """``DIR/nbgrader_config.py``, where nbgrader commands run in ``DIR`` look for their settings."""
    lines = ["# Written by `autograder build`; nbgrader reads this file from the course directory.",
             "c = get_config()  # noqa: F821"]
    lines += [f"c.{key} = {value!r}" for key, value in nbgrader_config(course, course_id, exchange, db_url).items()]
    path = Path(course) / "nbgrader_config.py"
    path.write_text("\n".join(lines) + "\n")
    return path


@contextlib.contextmanager
def _venv_on_path():
    """This interpreter's bin folder first on PATH, so nbgrader finds ``alembic`` when it creates the gradebook."""
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), old])
    try:
        yield
    finally:
        os.environ["PATH"] = old


def stage_assignment(name: str, dest: Path) -> Path:
    """Copy ``assignments/source/<name>/`` to ``dest``, freeze the public cases there and add the student files
    and extras: the folder nbgrader releases (and where the source notebook's check cells can run)."""
    from autograder.suites import freeze_public

    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(SOURCE_ROOT / name, dest, ignore=_IGNORE_IN_SOURCE)
    freeze_public(name, dest)
    for item in sorted(STUDENT_DIR.iterdir()):
        if item.is_file() and item.name not in _NOT_SHIPPED:
            shutil.copy2(item, dest / item.name)
        elif item.is_dir() and item.name not in _NOT_SHIPPED:  # the convkit_check package
            shutil.copytree(item, dest / item.name, ignore=_IGNORE_IN_SOURCE)
    if name in RELEASE_EXTRAS:
        RELEASE_EXTRAS[name](dest)
    return dest


def _generate(names: list[str], course: Path, course_id: str, db_url: str | None) -> None:
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    config = Config()
    for key, value in nbgrader_config(course, course_id, db_url=db_url).items():
        section, option = key.split(".")
        setattr(config[section], option, value)
    with _venv_on_path():
        api = NbGraderAPI(config=config)
        for name in names:
            result = api.generate_assignment(name, force=True, create=True)
            if not result.get("success"):
                raise BuildError(_FAILED_MESSAGE.format(name=name, error=result.get("error"), log=result.get("log")))


def build_course(course=DEFAULT_COURSE, assignments=None, *, course_id: str = COURSE_ID,
                 exchange: Path | None = None, db_url: str | None = None) -> dict[str, Path]:
    """Build ``DIR/source/<name>/`` and ``DIR/release/<name>/`` for ``assignments`` (default: every one with a
    source notebook). Returns ``{name: release folder}``; BuildError names a missing or failing assignment.
    ``exchange``: the nbgrader exchange folder to configure (created, world-writable as nbgrader needs);
    ``db_url``: the gradebook's SQLAlchemy URL (default: sqlite ``DIR/gradebook.db``), as ``grade --db`` takes it."""
    names = list(assignments) if assignments else available_assignments()
    for name in names:
        if name not in ASSIGNMENTS:
            raise BuildError(_UNKNOWN_MESSAGE.format(name=name, known=", ".join(ASSIGNMENTS)))
        if not _notebook(name).is_file():
            raise BuildError(_MISSING_MESSAGE.format(name=name, path=_notebook(name)))
    if not names:
        raise BuildError(f"no assignment has a source notebook under {SOURCE_ROOT}")
    course = Path(course).resolve()
    course.mkdir(parents=True, exist_ok=True)
    if exchange is not None:
        Path(exchange).mkdir(parents=True, exist_ok=True)
        Path(exchange).chmod(0o777)  # nbgrader's exchange: every student writes into its inbound folder
    write_nbgrader_config(course, course_id, exchange, db_url)
    for name in names:
        stage_assignment(name, course / "source" / name)
        release = course / "release" / name
        if release.exists():  # nbgrader leaves files of an earlier build that the source no longer has
            shutil.rmtree(release)
    _generate(names, course, course_id, db_url)
    return {name: course / "release" / name for name in names}
