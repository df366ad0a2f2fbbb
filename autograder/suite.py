"""The graded pytest suite: one real pytest session per submission, in the trusted grader process.

:func:`run_suite` runs ``graded_test.py`` with a plugin that parametrises it over the submission's cases and hands
each test the ``call`` that reaches the student's sandboxed functions. Each test runs ``convkit_check.run_case`` --
the same code the student's self-check runs -- records the :class:`CaseResult` and asserts it passed, so pytest's
own report and the recorded points cannot disagree.
"""
from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

__all__ = ["run_suite", "SUITE_FILE"]

SUITE_FILE = Path(__file__).with_name("graded_test.py")
# No entry-point plugins and none of pytest's optional built-ins: the graded session needs only the grading plugin,
# and loading the rest was a third of its overhead (0.045 -> 0.031 s per 48-case session, interleaved medians).
_PYTEST_ARGS = ["-q", "--disable-plugin-autoload", "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:xdist",
                "-p", "no:timeout", "-p", "no:unraisableexception", "-p", "no:threadexception", "-p", "no:faulthandler",
                "-p", "no:logging", "-p", "no:warnings", "-p", "no:doctest", "-p", "no:junitxml", "-p", "no:pastebin",
                "-p", "no:stepwise", "-p", "no:legacypath", "-p", "no:setuponly", "-p", "no:setupplan",
                "-p", "no:debugging",
                "--no-header", "--tb=no", "-o", "addopts=", "-o", "python_files=graded_test.py",
                "--rootdir", str(SUITE_FILE.parent), "-c", "/dev/null"]


class _GradingPlugin:
    def __init__(self, cases, call, cells):
        self.cases, self.call, self.cells, self.results = cases, call, cells, {}

    def pytest_generate_tests(self, metafunc):
        if "graded_case" in metafunc.fixturenames:
            metafunc.parametrize("graded_case", self.cases, ids=[f"{c.function}-{c.case_id}" for c in self.cases])

    @pytest.fixture
    def student_call(self):
        return self.call

    @pytest.fixture
    def student_cells(self):
        return self.cells

    @pytest.fixture
    def record(self):
        return lambda result: self.results.__setitem__((result.function, result.case_id), result)


def run_suite(cases, call, cells=None) -> list:
    """Run the graded suite over ``cases`` with ``call`` and return one CaseResult per case, in order. ``cells``
    (cell number -> source) lets a result name the student's line that raised.

    A case whose test did not record a result (which would mean a bug in the suite, not in the submission) raises
    RuntimeError rather than being scored silently.
    """
    if not cases:
        return []
    plugin = _GradingPlugin(cases, call, cells)
    sink = io.StringIO()
    with redirect_stdout(sink), redirect_stderr(sink):
        code = pytest.main([*_PYTEST_ARGS, str(SUITE_FILE)], plugins=[plugin])
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        raise RuntimeError(f"the graded suite did not run (pytest exit {int(code)}):\n{sink.getvalue()[-2000:]}")
    missing = [c.case_id for c in cases if (c.function, c.case_id) not in plugin.results]
    if missing:
        raise RuntimeError(f"the graded suite recorded no result for cases {missing[:5]}:\n{sink.getvalue()[-2000:]}")
    return [plugin.results[(c.function, c.case_id)] for c in cases]
