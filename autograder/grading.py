"""Grading one submission: the trusted pytest suite calls the student's functions through the sandbox proxy.

Flow (ARCHITECTURE.md): read the notebook (nbformat, size-capped), check it belongs to this assignment, take its
code cells (``convkit_check.notebook_source``), start a :class:`~autograder.sandbox.Sandbox` on them, and run the
graded suite -- a real pytest session in this process over the live cases, every public case before any hidden one
-- in which every call to a student function crosses into the sandboxed worker; then the public cases' twins, and
the credit rule (convkit_check.credit). The outcome is a :class:`~autograder.results.Result`. Nothing the student's
code does reaches this process except plain arrays and JSON, and nothing it does after a hidden input reaches the
student.
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import time

import nbformat
from nbformat.reader import NotJSONError

from autograder import integrity
from autograder.assignment import DEFAULT_LIMITS  # noqa: F401  (re-exported: the limits of most assignments)
from autograder.results import (RESULT_TEXT_CAP, CaseOutcome, CellError, LoadReport, Result, SandboxLoad, Status,
                                grader_fingerprint)
from autograder.safe_text import safe_text
from autograder.sandbox import CallTimeout as SandboxTimeout
from autograder.sandbox import InvalidResult, Limits, Sandbox, SandboxError, StudentError, WorkerCrashed
from autograder.student import convkit_check as cc
from autograder.student.convkit_check import calls
from autograder.safe_read import NOT_A_NOTEBOOK, NOT_JSON, NOT_UTF8, SubmissionRefused, refusal_sha256
from autograder.submissions import Sent, Submission
from autograder.suites import assignment as registered
from autograder.suites import twins_for

__all__ = ["grade_submission", "cell_name", "LOAD_FAILED", "WRONG_ASSIGNMENT", "HIDDEN_OUTPUT"]

LOAD_FAILED = "the notebook could not be read: {reason}"
WRONG_ASSIGNMENT = "this notebook is the {other!r} assignment, not {assignment!r}: submit the {assignment} notebook"
NOT_A_SUBMISSION = "this notebook has none of the {assignment!r} assignment's cells: was the right file submitted?"
HIDDEN_OUTPUT = cc.HIDDEN_OUTPUT
CRASH_MESSAGE = "the notebook's code crashed the worker process: {reason}"



def cell_name(function: str) -> str:
    """The nbgrader grade cell that holds ``function``'s score (assignments/authoring/nb.py's test_cell)."""
    return f"{function}_check"


@functools.cache
def _worker_preamble() -> str:
    # The worker needs of convkit_check only its calling rule (convkit_check/calls.py: call_in_namespace and the
    # FunctionMissing it raises), run as the worker's own `convkit_check`; the cases' named test functions arrive
    # decoded (the sandbox's codec is convkit_check's). The rest of convkit_check is the notebook's self-check:
    # a cell that imports it still imports, and what it imported raises if called, as it would here.
    # It runs in the worker's trusted namespace, apart from the student's (``student_namespace``): a notebook that
    # defines these names, or reassigns convkit_check's, changes nothing here (everything used is bound now).
    absent = sorted(set(cc.__all__) - set(vars(calls)))
    return (
        "import sys as _sys, types as _types\n"
        "_convkit = _types.ModuleType('convkit_check')\n"
        "_sys.modules['convkit_check'] = _convkit\n"
        f"exec(compile({inspect.getsource(calls)!r}, 'convkit_check.py', 'exec'), _convkit.__dict__)\n"
        f"def __convkit_absent(name, _names=frozenset({absent!r})):\n"
        "    if name not in _names:\n"
        "        raise AttributeError(f'module convkit_check has no attribute {name!r}')\n"
        "    def absent(*args, **kwargs):\n"
        "        raise RuntimeError(f'convkit_check.{name} is the self-check: it does not run while grading')\n"
        "    return absent\n"
        "_convkit.__getattr__ = __convkit_absent\n"
        "def __convkit_call__(name, args, kwargs, _call=_convkit.call_in_namespace, _ns=student_namespace):\n"
        "    return _call(_ns, name, args, kwargs)\n"
        f"def __convkit_cell_errors(_key={cc.CELL_ERRORS!r}, _ns=student_namespace):\n"
        "    # The list lives in the student's namespace: keep only well-formed entries, capped.\n"
        "    found = _ns.get(_key)\n"
        "    keep = lambda e: (type(e) is dict and type(e.get('cell')) is int and type(e.get('type')) is str\n"
        "                      and type(e.get('message')) is str)\n"
        "    return [{'cell': e['cell'], 'type': e['type'][:100], 'message': e['message'][:1000]}\n"
        "            for e in (found if type(found) is list else [])[:100] if keep(e)]\n"
    )


def _sandbox_call(sandbox: Sandbox):
    def call(name, args, kwargs):
        try:
            return sandbox.call("__convkit_call__", args=[name, list(args), dict(kwargs or {})])
        except SandboxTimeout as exc:
            raise cc.CallTimeout(str(exc)) from None
        except StudentError as exc:
            if exc.type_name == "FunctionMissing":
                raise cc.FunctionMissing(name) from None
            raise cc.StudentException(exc.type_names, exc.message, exc.student_traceback,
                                      frames=exc.frames) from None
        except InvalidResult as exc:
            raise cc.StudentException("InvalidResult", str(exc), "") from None
        except WorkerCrashed as exc:
            raise cc.StudentException("WorkerCrashed", CRASH_MESSAGE.format(reason=exc), "") from None
    return call


def _defines(nb, functions: set[str]) -> bool:
    """Does a code cell define one of ``functions`` (``def name(`` at the start of a line)?"""
    pattern = re.compile(r"^def\s+(" + "|".join(map(re.escape, sorted(functions))) + r")\s*\(", re.MULTILINE)
    return any(c.get("cell_type") == "code" and pattern.search(c.get("source", "")) for c in nb.cells)


def _notebook_identity(nb, assignment: str, functions: set[str], others) -> str | None:
    # Called after integrity.structure_problem: every cell's nbgrader metadata is a mapping, every grade_id a str.
    ids = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.cells}
    ours = {cell_name(f) for f in functions}
    if ids & ours:
        return None
    for other, names in (others() if callable(others) else others).items():
        if ids & {cell_name(f) for f in names}:
            return WRONG_ASSIGNMENT.format(other=other, assignment=assignment)
    if _defines(nb, functions):  # its check cells were deleted, but the functions are there: grade them
        return None
    return NOT_A_SUBMISSION.format(assignment=assignment)


def _outcome(result: cc.CaseResult, case: cc.Case) -> CaseOutcome:
    hidden = case.visibility != "visible"
    return CaseOutcome(case.function, case.case_id, result.points, result.max_points, result.status,
                       cc.hidden_output(result, case) if hidden else result.message, "hidden" if hidden else "visible",
                       result.diagnoses, result.problem)


def _result(assignment, submission, sha, cases, tests, *, output, load, layers, missing_layers, started,
            seconds=None, flags=()) -> Result:
    # ``execution_time`` is the time up to the end of the public cases: how long the hidden cases took is the
    # student's code's doing after it saw hidden inputs, so it is not shown either.
    by_cell: dict[str, float] = {}
    for case in cases:
        by_cell.setdefault(cell_name(case.function), 0.0)
    for t in tests:
        by_cell[cell_name(t.function)] += t.score
    return _safe_strings(Result(
        submission.student, assignment, round(sum(t.score for t in tests), 6), float(sum(c.points for c in cases)),
        tuple(tests), output, round(seconds if seconds is not None else time.perf_counter() - started, 3),
        submission.path.name, sha, grader_fingerprint(), submission.timestamp, submission.timestamp_problem, load,
        by_cell, tuple(layers), missing_layers, tuple(flags)))


def _load_report(report: dict, cell_errors=()) -> LoadReport:
    """The sandbox's load report (Sandbox.load_report) as the result records it."""
    errors = tuple(CellError(e["cell"], e["type"], e["message"]) for e in cell_errors)
    return LoadReport(report["ok"], report["error"], errors, SandboxLoad(
        report["error_type"], tuple(report["names"]), tuple(report["callables"]), report["stdout"],
        report["stderr"], report["crashed"], report["timed_out"]))


def _safe_strings(value):
    """``value`` with every string (keys too) made safe once, here, where the result is built: lone surrogates and
    control characters replaced, lengths capped (autograder.safe_text), so no page or report trips on them later."""
    if isinstance(value, str):
        return safe_text(value, RESULT_TEXT_CAP)
    if isinstance(value, dict):
        return {safe_text(k, 500) if isinstance(k, str) else k: _safe_strings(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_safe_strings(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: _safe_strings(getattr(value, f.name))
                                             for f in dataclasses.fields(value) if f.init})
    return value


class _LoadFailed(Exception):
    def __init__(self, reason: str, sha: str):
        super().__init__(reason)
        self.reason, self.sha = reason, sha


def _load_notebook(submission: Submission | Sent):
    """``(sha256, notebook)`` from ONE bounded read of the submission (no link followed, a regular file only);
    raises :class:`_LoadFailed` with a constant reason and the hash a re-run compares. The worker's source is
    built from this parsed notebook, never from the submitted path again."""
    try:
        raw = submission.read_bytes()
    except SubmissionRefused as exc:
        raise _LoadFailed(exc.reason, refusal_sha256(exc.reason, str(submission.path))) from None
    sha = _sha(raw)
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark from a Windows editor is no reason to fail
    except UnicodeDecodeError:
        raise _LoadFailed(NOT_UTF8, sha) from None
    try:
        nb = nbformat.reads(text, as_version=4)
    except NotJSONError:
        raise _LoadFailed(NOT_JSON, sha) from None
    except Exception:  # noqa: BLE001  nbformat and jsonschema raise many types for JSON that is no notebook
        raise _LoadFailed(NOT_A_NOTEBOOK, sha) from None
    return sha, nb


def _zero_tests(cases, status: Status, message: str) -> list[CaseOutcome]:
    return [_outcome(cc.CaseResult(c.case_id, c.function, 0.0, float(c.points), status, message), c) for c in cases]


def grade_submission(assignment: str, submission: Submission | Sent, cases: list, others=None,
                     limits: Limits | None = None) -> Result:
    """Grade ``submission`` on ``cases`` (live, from the reference); returns its :class:`~autograder.results.Result`.

    ``others``: the other assignments' function names (``{assignment: names}``, or a callable giving them, asked
    only for a notebook that has none of this assignment's cells), to name the assignment of a wrong notebook.

    Never raises for anything the submission does: an unreadable notebook, the wrong assignment, a crash, a
    timeout or a hostile trick each cost points of this submission only.
    """
    from autograder.suite import run_suite

    started = time.perf_counter()
    limits = limits or registered(assignment).limits
    functions = {c.function for c in cases}
    try:
        sha, nb = _load_notebook(submission)
    except _LoadFailed as exc:  # the reason is a constant that names the problem, never the file's content
        message = LOAD_FAILED.format(reason=exc.reason)
        return _result(assignment, submission, exc.sha, cases, _zero_tests(cases, "error", message),
                       output=message, load=LoadReport(False, exc.reason), layers=[], missing_layers={},
                       started=started)
    wrong = (integrity.structure_problem(nb) or _notebook_identity(nb, assignment, functions, others or {})
             or integrity.solution_markers(nb))
    if wrong:
        return _result(assignment, submission, sha, cases, _zero_tests(cases, "error", wrong), output=wrong,
                       load=LoadReport(False, wrong), layers=[], missing_layers={}, started=started)
    source = cc.notebook_source(nb)
    cells = dict(cc.notebook_cells(nb))  # the grader's own copy: it names the lines that raised
    try:
        with Sandbox(source, limits=limits, trusted_preamble=_worker_preamble()) as sandbox:
            cell_errors = []
            if sandbox.load_report["ok"]:
                try:
                    cell_errors = sandbox.call("__convkit_cell_errors")
                except SandboxError as exc:
                    cell_errors = [{"cell": "?", "type": type(exc).__name__, "message": str(exc)[:300]}]
            load = _load_report(sandbox.load_report, cell_errors)
            # Every public case runs before any hidden one (invariant 7): what the student's code returns, raises
            # or prints on a public case (shown in full) cannot carry anything it saw in a hidden input, and of the
            # hidden cases only what the grader computed is ever shown (_test_entry).
            # The public cases' twins run with the hidden ones (their inputs are the grader's, never shown).
            public = [c for c in cases if c.visibility == "visible"]
            hidden = [c for c in cases if c.visibility != "visible"]
            twins = twins_for(assignment, public)
            call = _sandbox_call(sandbox)
            ended: dict[tuple[str, str], float] = {}  # (function, case id) -> when its test ended
            ordered = public + hidden  # one pytest session, in this order
            by_case = dict(zip(map(id, ordered), run_suite(ordered, call, cells, ended), strict=True))
            public_seconds = max((ended[(c.function, c.case_id)] for c in public), default=started) - started
            # A twin scores nothing and is reported nowhere: run_case alone judges it, without a pytest test each
            # (that costs 4 ms a case, the grading of a twin 1 ms); only a public case that earned points needs one.
            earned = {(c.function, c.case_id) for c in public if by_case[id(c)].points > 0}
            twin_passed = {key: cc.run_case(t, call, cells).status in ("passed", "dtype") for key, t in twins.items()
                           if key in earned}
            results = cc.credit(cases, [by_case[id(c)] for c in cases], twin_passed)
            layers, missing = list(sandbox.layers), dict(sandbox.missing)
    except SandboxError as exc:
        message = CRASH_MESSAGE.format(reason=exc)
        return _result(assignment, submission, sha, cases, _zero_tests(cases, "error", message), output=message,
                       load=LoadReport(False, str(exc)), layers=[], missing_layers={}, started=started)
    tests = [_outcome(r, c) for r, c in zip(results, cases, strict=True)]
    lines = [f"{sum(t.score for t in tests):g} / {sum(c.points for c in cases):g} points"]
    lines += [f"cell {e.cell} raised {e.type_name}: {e.message}" for e in load.cell_errors]
    return _result(assignment, submission, sha, cases, tests, output="\n".join(lines), load=load, layers=layers,
                   missing_layers=missing, started=started, seconds=public_seconds,
                   flags=integrity.source_copies(nb, assignment))


def _sha(raw: bytes) -> str:
    import hashlib

    return hashlib.sha256(raw).hexdigest()
