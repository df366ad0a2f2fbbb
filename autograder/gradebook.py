"""Recording trusted scores in nbgrader's gradebook, so ``nbgrader export`` and formgrader show them.

The assignment, its notebooks and grade cells enter the gradebook when ``autograder build`` runs nbgrader's
generate_assignment. Here each graded submission gets a student row, a submission row (with nbgrader's timestamp
when the exchange recorded one, so lateness is nbgrader's own), and one ``auto_score`` per grade cell: the sum of
the points the function of that cell earned in the trusted grader. Scores are clamped to the cell's [0, max]
(nbgrader rejects a notebook whose score exceeds the maximum). Only the grading process writes here; the student's
code never runs in it.
"""
from __future__ import annotations

import warnings

__all__ = ["record", "GradebookError"]


class GradebookError(RuntimeError):
    """The gradebook lacks the assignment (run ``autograder build`` first) or cannot be written."""


def record(db_url: str, course_id: str, assignment: str, student: str, notebook: str,
           cell_scores: dict[str, float], timestamp: str | None = None) -> None:
    """Write ``cell_scores`` (``{grade_cell_name: points}``) as auto scores of ``student``'s submission."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SAWarning

    from autograder.course import tools_on_path

    with tools_on_path(), warnings.catch_warnings(), Gradebook(db_url, course_id=course_id) as gb:
        # nbgrader 0.9.6's add_submission trips SQLAlchemy 2's autoflush warnings on every new submission.
        warnings.simplefilter("ignore", SAWarning)
        try:
            gb.find_assignment(assignment)
        except MissingEntry as exc:
            raise GradebookError(f"assignment {assignment!r} is not in the gradebook {db_url}: "
                                 "run `autograder build` first") from exc
        gb.update_or_create_student(student)
        kwargs = {"timestamp": timestamp} if timestamp else {}
        gb.update_or_create_submission(assignment, student, **kwargs)
        for cell, points in cell_scores.items():
            try:
                grade = gb.find_grade(cell, notebook, assignment, student)
            except MissingEntry as exc:
                raise GradebookError(f"grade cell {cell!r} of {assignment}/{notebook} is not in the gradebook") from exc
            top = grade.max_score
            grade.auto_score = float(min(max(points, 0.0), top))
            grade.needs_manual_grade = False
        gb.db.commit()
