"""Recording trusted scores in nbgrader's gradebook, so ``nbgrader export`` and formgrader show them.

The assignment, its notebooks and grade cells enter the gradebook when ``autograder build`` runs nbgrader's
generate_assignment. Here each graded submission gets a student row, a submission row (with nbgrader's timestamp
when the exchange recorded one, so lateness is nbgrader's own), and one ``auto_score`` per grade cell: the sum of
the points the function of that cell earned in the trusted grader. Scores are clamped to the cell's [0, max]
(nbgrader rejects a notebook whose score exceeds the maximum). Only the grading process writes here; the student's
code never runs in it.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Any

__all__ = ["Recorder", "record", "GradebookError"]


class GradebookError(RuntimeError):
    """The gradebook lacks the assignment (run ``autograder build`` first) or cannot be written."""


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

            with tools_on_path():  # nbgrader may run alembic to create or upgrade the database
                self._gb = Gradebook(self.db_url, course_id=self.course_id)
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
                    raise GradebookError(f"assignment {assignment!r} is not in the gradebook {self.db_url}: "
                                         "run `autograder build` first") from exc
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
