"""The graded suite (run by autograder.suite.run_suite, never collected by the kit's own tests).

``graded_case``, ``student_call``, ``student_cells`` and ``record`` come from the grading plugin: the case (data,
expected value from the live reference), the proxy into the student's sandbox, the grader's copy of the notebook's
cells, and the recorder of the trusted result.
"""
from autograder.student.convkit_check import run_case


def test_graded_case(graded_case, student_call, student_cells, record):
    result = run_case(graded_case, student_call, student_cells)
    record(result)
    assert result.passed, result.message
