"""The graded suite (run by autograder.suite.run_suite, never collected by the kit's own tests).

One test per run of consecutive cases of one function and one visibility (``graded_cases``, in the order grading
gives: every public case before any hidden one), so a pytest test costs its overhead once per function rather than
once per case. ``grading`` carries ``call`` (the proxy into the student's sandbox), ``cells`` (the grader's copy of
the notebook's cells), ``functions`` (the graded functions' names, to name a stub reached through another one) and
``record`` (the recorder of the trusted result of each case).
"""
from autograder.student.convkit_check import run_case


def test_graded_cases(graded_cases, grading):
    results = [run_case(case, grading.call, grading.cells, grading.functions) for case in graded_cases]
    for result in results:
        grading.record(result)
    failed = [r for r in results if not r.passed]
    assert not failed, "\n\n".join(r.message for r in failed)
