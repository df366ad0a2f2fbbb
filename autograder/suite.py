"""The graded pytest suite: one real pytest session per submission, in the trusted grader process.

:func:`run_suite` runs ``graded_test.py`` with a plugin that parametrises it over runs of the submission's cases
(consecutive cases of one function and visibility) and hands each test the ``call`` that reaches the student's
sandboxed functions. Each test runs ``convkit_check.run_case`` -- the same code the student's self-check runs -- on
its cases in order, records each :class:`CaseResult` and asserts they all passed, so pytest's own report and the
recorded points cannot disagree.
"""
from __future__ import annotations

import io
import time
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
    def __init__(self, cases, call, cells, recorded_at):
        self.call, self.cells, self.results = call, cells, {}
        self.functions = frozenset(c.function for c in cases)
        self.recorded_at = recorded_at if recorded_at is not None else {}
        self.groups: list[list] = []  # runs of consecutive cases of one function and one visibility, in order
        for case in cases:
            last = self.groups[-1][-1] if self.groups else None
            if last is not None and (last.function, last.visibility) == (case.function, case.visibility):
                self.groups[-1].append(case)
            else:
                self.groups.append([case])

    def pytest_generate_tests(self, metafunc):
        if "graded_cases" in metafunc.fixturenames:
            metafunc.parametrize("graded_cases", self.groups,
                                 ids=[f"{g[0].function}-{g[0].visibility}-{i}" for i, g in enumerate(self.groups)])

    @pytest.fixture
    def grading(self):
        return self

    def record(self, result):
        self.results[(result.function, result.case_id)] = result
        self.recorded_at[(result.function, result.case_id)] = time.perf_counter()


def run_suite(cases, call, cells=None, recorded_at: dict | None = None) -> list:
    """Run the graded suite over ``cases`` with ``call`` and return one CaseResult per case, in order. The cases
    run in the order given (one parametrised test: pytest keeps it). ``cells`` (cell number -> source) lets a
    result name the student's line that raised; ``recorded_at`` receives ``perf_counter()`` per case as it ends.
    Consecutive cases of one function and visibility share one pytest test (graded_test.py).

    A case whose test did not record a result (which would mean a bug in the suite, not in the submission) raises
    RuntimeError rather than being scored silently.
    """
    if not cases:
        return []
    plugin = _GradingPlugin(cases, call, cells, recorded_at)
    sink = io.StringIO()
    with redirect_stdout(sink), redirect_stderr(sink):
        code = pytest.main([*_PYTEST_ARGS, str(SUITE_FILE)], plugins=[plugin])
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        raise RuntimeError(f"the graded suite did not run (pytest exit {int(code)}):\n{sink.getvalue()[-2000:]}")
    missing = [c.case_id for c in cases if (c.function, c.case_id) not in plugin.results]
    if missing:
        raise RuntimeError(f"the graded suite recorded no result for cases {missing[:5]}:\n{sink.getvalue()[-2000:]}")
    return [plugin.results[(c.function, c.case_id)] for c in cases]
