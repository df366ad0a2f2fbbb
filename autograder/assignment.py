"""What the grader knows of an assignment, as one object: each ``autograder/suites/<name>.py`` declares one
:class:`Assignment` as ``ASSIGNMENT``, and :mod:`autograder.suites` lists them in course order (the registry).

Everything that differs between assignments lives here, so no other module names one: the case table, the
sandbox limits of one submission, the files a release carries beside the notebook. The kit's source notebooks
(with solutions) are package data: ``autograder.sources`` in an install (pyproject.toml maps the repository's
``assignments/source/`` there, where the authoring scripts write them).
"""
from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autograder.sandbox import Limits

__all__ = ["Assignment", "DEFAULT_LIMITS", "SOURCES_PACKAGE", "packaged_sources"]

# Time limits per call: generous for a correct vectorised function (milliseconds), short enough that an endless
# loop costs a few seconds. Budget (all calls of one submission together, Limits.budget_s): 120 s by default.
DEFAULT_LIMITS = Limits(call_timeout_s=10.0)
SOURCES_PACKAGE = "autograder.sources"


@dataclass(frozen=True)
class Assignment:
    """One assignment of the course.

    ``cases``: the function returning its case table (rows of :func:`autograder.suites.case`; expected values are
    filled in by :func:`autograder.suites.cases_for`). ``limits``: the sandbox limits of one submission.
    ``release_files``: a function ``(folder) -> None`` writing the files a release carries beside the notebook
    (into the course's ``source/<name>/`` before nbgrader copies it to the release), or None."""

    name: str
    title: str
    cases: Callable[[], list]
    limits: Limits = DEFAULT_LIMITS
    release_files: Callable[[Path], object] | None = None

    @property
    def notebook(self) -> str:
        """The file name of its one notebook (nbgrader's notebook id is the name without ``.ipynb``)."""
        return f"{self.name}.ipynb"

    def packaged_source(self) -> Path:
        """The kit's own source folder of this assignment (what ``autograder init`` copies into a course)."""
        return packaged_sources() / self.name


def packaged_sources() -> Path:
    """The folder of the kit's source assignments, ``<name>/<name>.ipynb`` each: the installed data package, or,
    where this code runs from a checkout whose install predates that package (PYTHONPATH, an older editable
    install), the checkout's ``assignments/source/`` beside the package."""
    spec = importlib.util.find_spec(SOURCES_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parents[1] / "assignments" / "source"
