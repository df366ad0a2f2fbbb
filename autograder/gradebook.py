"""Recording trusted scores in nbgrader's gradebook, so ``nbgrader export`` and formgrader show them.

The assignment, its notebooks and grade cells enter the gradebook when ``autograder build`` runs nbgrader's
generate_assignment. Here each graded submission gets a student row, a submission row (with nbgrader's timestamp
when the exchange recorded one, so lateness is nbgrader's own), and one ``auto_score`` per grade cell: the sum of
the points the function of that cell earned in the trusted grader. Scores are clamped to the cell's [0, max]
(nbgrader rejects a notebook whose score exceeds the maximum). Only the grading process writes here; the student's
code never runs in it.

The gradebook is any SQLAlchemy URL nbgrader accepts: a SQLite file (nbgrader's default) or a PostgreSQL database
(``postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB``). A URL is shown only through :func:`masked_url` (its password
as ``***``), and :func:`check_url` / :func:`check_reachable` turn a bad URL or a server that does not answer into
:class:`GradebookURLError`, a message naming the problem (host:port, never the password).
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Any

__all__ = ["Recorder", "record", "GradebookError", "GradebookURLError", "masked_url", "scrub", "is_postgresql",
           "check_url", "check_reachable", "engine_for", "unreachable", "BAD_URL", "NO_DRIVER", "UNREACHABLE",
           "CONNECT_TIMEOUT_S"]

BAD_URL = "the gradebook URL {url!r} is not a SQLAlchemy URL (e.g. sqlite:///PATH or postgresql+psycopg://USER@HOST/DB)"
NO_DRIVER = ("no database driver for the gradebook URL {url}: {error} (PostgreSQL: install psycopg, in the "
             "instructor extra)")
UNREACHABLE = "cannot open the gradebook {url} ({where}): {error}"
_SQLITE = "a SQLite file"
_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}  # libpq's and MySQL's, when the URL names none
CONNECT_TIMEOUT_S = 10  # a server that does not answer: the instructor hears so in seconds, not after TCP's minutes


class GradebookError(RuntimeError):
    """The gradebook lacks the assignment (run ``autograder build`` first) or cannot be written."""


class GradebookURLError(GradebookError, ValueError):
    """The gradebook URL cannot be used: not a URL, no driver for it, or its server refuses or does not answer.
    A ValueError too: bad input, which every verb of the CLI reports as a one-line error."""


def _parse(url: str):
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except (ArgumentError, ValueError, TypeError):
        return None


def masked_url(url: str) -> str:
    """``url`` with its password as ``***`` (a URL that cannot be parsed shows only its scheme, or nothing, when it
    might hold a password: where that is cannot be known)."""
    parsed = _parse(url)
    if parsed is not None:
        return parsed.render_as_string(hide_password=True)
    from autograder.safe_text import safe_line

    text = str(url)
    if "@" not in text and ":" not in text:
        return safe_line(text, 100)
    return f"{safe_line(text.split(':', 1)[0], 40)}://***" if "://" in text else "***"


def scrub(text: str, url: str) -> str:
    """``text`` with ``url`` masked and its password (as given and percent-encoded) replaced by ``***``: what a
    driver's or SQLAlchemy's message may echo back goes out only through here."""
    parsed = _parse(url)
    text = str(text).replace(str(url), masked_url(url))
    if parsed is not None and parsed.password:
        from urllib.parse import quote, quote_plus

        password = str(parsed.password)
        for secret in sorted({password, quote(password, safe=""), quote_plus(password)}, key=len, reverse=True):
            text = text.replace(secret, "***")
    return text


def is_postgresql(url: str) -> bool:
    parsed = _parse(url)
    return parsed is not None and parsed.get_backend_name() == "postgresql"


def _where(url: str) -> str:
    parsed = _parse(url)
    if parsed is None or parsed.get_backend_name() == "sqlite":
        return _SQLITE
    port = parsed.port or _DEFAULT_PORTS.get(parsed.get_backend_name(), "default port")
    return f"server {parsed.host or 'localhost'}:{port}"


def check_url(url: str) -> None:
    """Raise :class:`GradebookURLError` unless ``url`` parses and its driver imports (nothing is connected)."""
    parsed = _parse(url)
    if parsed is None:
        raise GradebookURLError(BAD_URL.format(url=masked_url(url)))
    try:
        parsed.get_dialect().import_dbapi()
    except Exception as exc:  # sqlalchemy's NoSuchModuleError or the driver's ImportError
        raise GradebookURLError(NO_DRIVER.format(url=masked_url(url), error=scrub(str(exc), url))) from None


def engine_for(url: str, application_name: str | None = None, **kwargs):
    """A SQLAlchemy engine for ``url`` that gives up on a silent server after :data:`CONNECT_TIMEOUT_S`."""
    from sqlalchemy import create_engine

    connect_args: dict[str, Any] = {}
    if is_postgresql(url):
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
        if application_name:
            connect_args["application_name"] = application_name[:63]  # PostgreSQL's NAMEDATALEN - 1
    return create_engine(url, connect_args=connect_args, **kwargs)


def unreachable(url: str, exc: BaseException) -> GradebookURLError:
    """The error for a connection to ``url`` that failed with ``exc``: where, and the driver's reason (scrubbed)."""
    reason = getattr(exc, "orig", None) or exc
    from autograder.safe_text import safe_line

    return GradebookURLError(UNREACHABLE.format(url=masked_url(url), where=_where(url),
                                                error=safe_line(scrub(str(reason), url), 300)))


def check_reachable(url: str) -> None:
    """:func:`check_url`, then (for a database server, not a SQLite file) connect once: raises
    :class:`GradebookURLError` naming host:port and the server's reason (refused, no such database, bad password)."""
    check_url(url)
    if _where(url) == _SQLITE:
        return
    from sqlalchemy import text
    from sqlalchemy.pool import NullPool

    engine = engine_for(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise unreachable(url, exc) from None
    finally:
        engine.dispose()


class Recorder:
    """The gradebook of one batch, opened at its first :meth:`record` and kept open until :meth:`close` (opening
    nbgrader's Gradebook costs more than recording one submission: 40 ms of CPU per submission, when each result
    opened its own). Each submission is one transaction: committed whole, or rolled back and raised, so a failure
    costs only that submission's row; the next :meth:`record` opens the gradebook again if it could not be opened."""

    def __init__(self, db_url: str, course_id: str):
        self.db_url, self.course_id = db_url, course_id
        self._gb: Any = None

    def open(self):
        """The batch's Gradebook, opened now if it is not open yet (raises what nbgrader raises)."""
        if self._gb is None:
            from nbgrader.api import Gradebook

            from autograder.course import tools_on_path

            from sqlalchemy.exc import OperationalError

            try:
                with tools_on_path():  # nbgrader may run alembic to create or upgrade the database
                    self._gb = Gradebook(self.db_url, course_id=self.course_id)
            except OperationalError as exc:  # its message may carry the URL: only the masked one goes out
                raise unreachable(self.db_url, exc) from None
        return self._gb

    def record(self, assignment: str, student: str, notebook: str, cell_scores: dict[str, float],
               timestamp: str | None = None) -> None:
        """Write ``cell_scores`` (``{grade_cell_name: points}``) as auto scores of ``student``'s submission."""
        from nbgrader.api import MissingEntry
        from sqlalchemy.exc import SAWarning

        gb = self.open()
        try:
            with warnings.catch_warnings():
                # nbgrader 0.9.6's add_submission trips SQLAlchemy 2's autoflush warnings on every new submission.
                warnings.simplefilter("ignore", SAWarning)
                try:
                    gb.find_assignment(assignment)
                except MissingEntry as exc:
                    raise GradebookError(f"assignment {assignment!r} is not in the gradebook "
                                         f"{masked_url(self.db_url)}: run `autograder build` first") from exc
                gb.update_or_create_student(student)
                kwargs = {"timestamp": timestamp} if timestamp else {}
                gb.update_or_create_submission(assignment, student, **kwargs)
                for cell, points in cell_scores.items():
                    try:
                        grade = gb.find_grade(cell, notebook, assignment, student)
                    except MissingEntry as exc:
                        raise GradebookError(f"grade cell {cell!r} of {assignment}/{notebook} is not in the "
                                             "gradebook") from exc
                    top = grade.max_score
                    grade.auto_score = float(min(max(points, 0.0), top))
                    grade.needs_manual_grade = False
                gb.db.commit()
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self._gb is None:
            return
        try:
            self._gb.db.rollback()
        except Exception:  # a connection that broke: open a new one next time
            self.close()

    def close(self) -> None:
        gb, self._gb = self._gb, None
        if gb is not None:
            with contextlib.suppress(Exception):
                gb.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def record(db_url: str, course_id: str, assignment: str, student: str, notebook: str,
           cell_scores: dict[str, float], timestamp: str | None = None) -> None:
    """Write ``cell_scores`` (``{grade_cell_name: points}``) as auto scores of ``student``'s submission (one
    submission: a batch keeps one :class:`Recorder`)."""
    with Recorder(db_url, course_id) as recorder:
        recorder.record(assignment, student, notebook, cell_scores, timestamp)
