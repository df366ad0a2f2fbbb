"""The course directory as one object: its layout, its gradebook and its nbgrader configuration.

nbgrader owns the layout of ``source/``, ``release/``, ``submitted/``, ``autograded/`` and ``feedback/`` (its
``CourseDirectory``: folder names and ``directory_structure`` as the course's ``nbgrader_config.py`` sets them);
convkit adds ``results/`` (one Gradescope results.json per student) and ``reports/`` (the class report).

``autograder build`` writes ``COURSE/nbgrader_config.py`` (:meth:`Course.write_config`); :meth:`Course.open` reads
it as nbgrader does, so a gradebook URL given once to ``build --db`` is found by every later verb and by nbgrader's
own commands run in the course folder (``nbgrader export``). A ``db_url`` given to :meth:`Course.open` overrides it.
"""
from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Course", "COURSE_ID", "DEFAULT_ROOT", "CONFIG_FILE", "as_course", "tools_on_path"]

COURSE_ID = "convkit"
DEFAULT_ROOT = Path("course")
CONFIG_FILE = "nbgrader_config.py"
KERNEL_NAME = "python3"
_CONFIG_HEADER = ("# Written by `autograder build`; nbgrader reads this file from the course directory, and so does "
                  "every autograder verb.")


def _read_config(root: Path):
    """The traitlets Config of ``root/nbgrader_config.py`` (empty without one), loaded as nbgrader loads it."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    if not (root / CONFIG_FILE).is_file():
        return Config()
    return PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()


@dataclass(frozen=True)
class Course:
    """A course folder: ``root`` (absolute), the gradebook's SQLAlchemy ``db_url`` (``db_source``: "given" to
    :meth:`open`, recorded in the "config", or nbgrader's "default", ``COURSE/gradebook.db``), nbgrader's
    ``course_id`` and the exchange folder its config names (None: nbgrader's default). Build one with :meth:`open`."""

    root: Path
    db_url: str = field(repr=False)  # may hold a password: a Course printed in a traceback must not show it
    course_id: str = COURSE_ID
    exchange: Path | None = None
    db_source: str = "default"
    layout: tuple = ()  # (nbgrader step, folder name) pairs and ("structure", directory_structure): CourseDirectory's

    @classmethod
    def open(cls, root=DEFAULT_ROOT, db_url: str | None = None, course_id: str | None = None,
             exchange: Path | None = None) -> Course:
        """The course at ``root``, with the settings its ``nbgrader_config.py`` records (when it has one);
        ``db_url``, ``course_id`` and ``exchange`` override them."""
        from nbgrader.coursedir import CourseDirectory

        root = Path(root).resolve()
        config = _read_config(root)
        coursedir = CourseDirectory(config=config, root=str(root))
        recorded = config.get("Exchange", {}).get("root")
        exchange = exchange if exchange is not None else (Path(recorded) if recorded else None)
        db_source = "given" if db_url else "config" if "db_url" in config.get("CourseDirectory", {}) else "default"
        steps = ("source", "release", "submitted", "autograded", "feedback")
        dirs = tuple((step, getattr(coursedir, f"{step}_directory")) for step in steps)
        return cls(root=root, db_url=db_url or coursedir.db_url,
                   course_id=course_id or coursedir.course_id or COURSE_ID,
                   exchange=Path(exchange).resolve() if exchange is not None else None, db_source=db_source,
                   layout=(*dirs, ("structure", coursedir.directory_structure)))

    def __fspath__(self) -> str:  # Path(course) is its root: code written for a course folder takes a Course too
        return str(self.root)

    # nbgrader's folders, laid out as its CourseDirectory.format_path lays them out
    def _path(self, step: str, student: str = ".", assignment: str = ".") -> Path:
        dirs = dict(self.layout)
        structure = dirs["structure"].format(nbgrader_step=dirs[step], student_id=student, assignment_id=assignment)
        return self.root / structure  # pathlib drops the "." of the course-wide folders

    @property
    def source(self) -> Path:
        return self._path("source")

    @property
    def release(self) -> Path:
        return self._path("release")

    @property
    def submitted(self) -> Path:
        return self._path("submitted")

    @property
    def autograded(self) -> Path:
        return self._path("autograded")

    @property
    def feedback(self) -> Path:
        return self._path("feedback")

    def source_dir(self, assignment: str) -> Path:
        return self._path("source", ".", assignment)

    def release_dir(self, assignment: str) -> Path:
        return self._path("release", ".", assignment)

    def submission_dir(self, student: str, assignment: str) -> Path:
        return self._path("submitted", student, assignment)

    def feedback_dir(self, student: str, assignment: str) -> Path:
        return self._path("feedback", student, assignment)

    # convkit's own folders
    @property
    def results(self) -> Path:
        return self.root / "results"

    def results_dir(self, assignment: str) -> Path:
        return self.results / assignment

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    def gradebook_url(self) -> str | None:
        """The gradebook to read: the URL given to :meth:`open` or recorded in the config, except a sqlite file that
        does not exist and was not asked for by the caller (None: a reader never creates an empty gradebook)."""
        if self.db_source == "given" or not self.db_url.startswith("sqlite:///"):
            return self.db_url
        return self.db_url if Path(self.db_url.removeprefix("sqlite:///")).is_file() else None

    def nbgrader_config(self) -> dict:
        """The settings nbgrader needs, as ``{"Section.option": value}``: root, course id, kernel, the gradebook
        unless it is nbgrader's default for this root (so a copy of the folder gets its own), and the exchange when
        one is named."""
        config = {"CourseDirectory.root": str(self.root), "CourseDirectory.course_id": self.course_id}
        if self.db_source != "default":
            config["CourseDirectory.db_url"] = self.db_url
        config["Execute.kernel_name"] = KERNEL_NAME
        if self.exchange is not None:
            config["Exchange.root"] = str(self.exchange)
        return config

    def traitlets_config(self):
        """:meth:`nbgrader_config` as a traitlets Config, for nbgrader's API (it ignores a ``--config`` file)."""
        from traitlets.config import Config

        config = Config()
        for key, value in self.nbgrader_config().items():
            section, option = key.split(".")
            setattr(config[section], option, value)
        return config

    def write_config(self) -> Path:
        """``COURSE/nbgrader_config.py``, where nbgrader commands run in the course folder (and :meth:`open`) find
        these settings."""
        lines = [_CONFIG_HEADER, "c = get_config()  # noqa: F821"]
        lines += [f"c.{key} = {value!r}" for key, value in self.nbgrader_config().items()]
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / CONFIG_FILE
        # A gradebook URL with a password makes the file a secret: readable by its owner only, from its creation on.
        mode = 0o600 if _has_password(self.db_url) else 0o644
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as fh:
            os.fchmod(fd, mode)  # an existing file keeps its mode through O_CREAT: set it
            fh.write("\n".join(lines) + "\n")
        return path


def _has_password(url: str) -> bool:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return bool(make_url(url).password)
    except (ArgumentError, ValueError, TypeError):
        return True  # a URL that cannot be parsed: it may hold one


def as_course(course, db_url: str | None = None, course_id: str | None = None,
              exchange: Path | None = None) -> Course:
    """``course`` itself when it is a :class:`Course` (with ``db_url``, ``course_id``, ``exchange`` overriding its
    own), else the course at that path (:meth:`Course.open`): library functions take either."""
    if not isinstance(course, Course):
        return Course.open(course, db_url=db_url, course_id=course_id, exchange=exchange)
    from dataclasses import replace

    return replace(course, db_url=db_url or course.db_url, course_id=course_id or course.course_id,
                   exchange=Path(exchange).resolve() if exchange is not None else course.exchange,
                   db_source="given" if db_url else course.db_source)


@contextlib.contextmanager
def tools_on_path():
    """This interpreter's bin folder first on PATH for the duration: nbgrader shells out to ``alembic`` when it
    creates or upgrades a gradebook (FINDINGS.md), and must find this environment's."""
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), old])
    try:
        yield
    finally:
        os.environ["PATH"] = old
