"""Running cases: the scorers, one case -> :class:`CaseResult`, what a hidden case says, the credit rule, and
``check`` (a notebook's check cell)."""
from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from .calls import CallTimeout, FunctionMissing, StudentException, call_in_namespace
from .cases import (RELEASE_DIR, Case, CaseResult, Status, load_public_cases, numpy_version_warning,
                    public_cases_for)
from .compare import (_diagnose, _diagnose_exception, _exception_info, _frames, _problems, _short, about_case,
                      builtin_exception_name, compare, describe_inputs, student_line)
from .messages import (ANSWER_PROBLEMS, CASE_HEADER, CHECK_FAILED_MESSAGE, DIAGNOSIS_MESSAGE, DTYPE_KIND_MESSAGE,
                       DTYPE_MESSAGE, DTYPE_POINTS_MESSAGE, EXCEPTION_MESSAGE, HIDDEN_OUTPUT, HIDDEN_PROBLEM_MESSAGES,
                       IS_STUB, KERNEL_BOTH_POLARITIES, KERNEL_FLAT_MESSAGE, KERNEL_NOT_ZERO_SUM,
                       KERNEL_ORIENTATION_MESSAGE, KERNEL_OTHER_DIAGONAL, KERNEL_SIGN_MESSAGE, KERNEL_STRAIGHT,
                       KERNEL_WRONG_SIGN, KERNEL_ZERO_MESSAGE, LOW_SCORE, MISSING_MESSAGE, NONE_MESSAGE, NOT_BUILTIN,
                       NOT_DEFINED, NOT_RAISED, NO_CASES_MESSAGE, PROVIDED_CHECK_MESSAGE, RAISED, RAISES_MESSAGE,
                       RETURNED_NONE, SCORE_MESSAGE, SHAPE_MESSAGE, STUB_CALLS_MESSAGE, STUB_MESSAGE,
                       SUMMARY_MESSAGE, TIMED_OUT, TIMEOUT_MESSAGE, UNCONFIRMED, UNCONFIRMED_CHECK_MESSAGE,
                       UNCONFIRMED_MESSAGE, WRONG_DTYPE, WRONG_EXCEPTION, WRONG_EXCEPTION_MESSAGE)

# A right answer in the wrong dtype loses this share of the case's points (invariant 9: a convention costs at most
# its own share). A quarter: with whole and half points per case, every score stays an exact binary fraction.
DTYPE_SHARE = 0.25


# ---- scorers: cases graded by a measure rather than by one expected array ----
# A scorer takes the case and ``call(name, args, kwargs)`` and returns (points, messages, mistake names).
Scorer = Callable[[Case, Callable[..., Any]], tuple[float, list[str], tuple[str, ...]]]


def _score_kernel_response(case: Case, call) -> tuple[float, list[str], tuple[str, ...]]:
    """The student's kernel against the criteria the notebook states, on edge images of contrast ``c`` (their 3x3
    patches are in ``data``; the response of a patch is ``patch . kernel``, its strongest over all patches counts):

    1. flat: flat patches answer at most ``flat_ratio`` x norm x c (the weights sum to 0);
    2. sign: the edge asked for ("target": along the main diagonal, dark below-left, bright above-right) answers
       at least ``min_response`` x norm x c, and the same edge with its colours swapped ("reversed") at most
       ``reversed_ratio`` x that;
    3. orientation: the other diagonal (top-right to bottom-left, either polarity) answers at most ``other_ratio``
       x the target's response, horizontal and vertical edges (either polarity) at most ``straight_ratio`` x it.

    Every criterion is a ratio, so any positive multiple of a kernel scores the same. ``weights``: their points."""
    kernel = call(case.function, _copy(case.args), _copy(case.kwargs))
    problems = compare(kernel, np.zeros((3, 3), dtype=int),
                       Case(**{**case.__dict__, "kind": "array", "atol": np.inf}), "kernel")
    if problems:
        return 0.0, problems, ()
    k = np.asarray(kernel, dtype=np.float64).ravel()
    opt = case.options
    resp = {name: np.asarray(case.data[name]) @ k for name in ("target", "reversed", "other", "straight", "flat")}
    target, reversed_ = float(resp["target"].max()), float(resp["reversed"].max())
    other, straight = float(np.abs(resp["other"]).max()), float(np.abs(resp["straight"]).max())
    flat = float(np.abs(resp["flat"]).max())
    scale = float(np.linalg.norm(k)) * opt["contrast"]
    if not scale > 0:
        return 0.0, [SCORE_MESSAGE.format(what="kernel", detail=KERNEL_ZERO_MESSAGE)], ()
    strong = opt["min_response"] * scale
    flat_ok = flat <= opt["flat_ratio"] * scale
    sign_ok = target >= strong and reversed_ <= opt["reversed_ratio"] * target
    orientation_ok = target > 0 and other <= opt["other_ratio"] * target and straight <= opt["straight_ratio"] * target
    lines, names = [], []
    if not flat_ok:
        lines.append(KERNEL_FLAT_MESSAGE.format(flat=flat, ratio=opt["flat_ratio"], limit=opt["flat_ratio"] * scale))
        names.append(KERNEL_NOT_ZERO_SUM)
    if not sign_ok:
        lines.append(KERNEL_SIGN_MESSAGE.format(target=target, limit=strong, ratio=opt["min_response"],
                                                reversed=reversed_, reversed_ratio=opt["reversed_ratio"]))
    if not orientation_ok:
        lines.append(KERNEL_ORIENTATION_MESSAGE.format(other=other, other_ratio=opt["other_ratio"], target=target,
                                                       straight=straight, straight_ratio=opt["straight_ratio"]))
    # One named cause, the root first: an offset (nonzero sum) changes every other response; a kernel that misses
    # the edge asked for answers another one (the strongest is named); else it answers too much besides.
    if flat_ok and target < strong:
        answered = {KERNEL_WRONG_SIGN: reversed_, KERNEL_OTHER_DIAGONAL: other, KERNEL_STRAIGHT: straight}
        names += [max(answered, key=answered.__getitem__)] * (max(answered.values()) >= strong)
    elif flat_ok:
        names += [KERNEL_BOTH_POLARITIES] * (not sign_ok) + [KERNEL_STRAIGHT] * (
            straight > opt["straight_ratio"] * target)
    weights = opt["weights"]
    points = float(sum(w for w, ok in zip(weights, (flat_ok, sign_ok, orientation_ok), strict=True) if ok))
    return (points, [SCORE_MESSAGE.format(what="kernel", detail=d) for d in lines] + _diagnosis_lines(names, case),
            tuple(names))


def _score_accuracy(case: Case, call) -> tuple[float, list[str], tuple[str, ...]]:
    """Train with the student's ``train_cnn``, predict the held-out digits with their ``predict``, score the
    accuracy by the thresholds of ``options`` (a list of [min accuracy, fraction of the points])."""
    params = call(case.function, _copy(case.args), _copy(case.kwargs))
    if isinstance(params, tuple) and params and isinstance(params[0], dict):
        params = params[0]  # train_cnn may return (params, history)
    if params is None:
        return 0.0, [NONE_MESSAGE.format(function=case.function)], ()
    labels = np.asarray(case.data["y"])
    predicted = call(case.options.get("predict", "predict"), (params, case.data["x"]), {})
    if predicted is None:
        return 0.0, [NONE_MESSAGE.format(function="predict")], ()
    pred = np.asarray(predicted)
    if pred.shape != labels.shape:
        return 0.0, [SHAPE_MESSAGE.format(what="predict(params, x)", expected=labels.shape, got=pred.shape)], ()
    accuracy = float(np.mean(pred == labels))
    fraction = max([f for threshold, f in case.options["thresholds"] if accuracy >= threshold], default=0.0)
    need = max(t for t, _ in case.options["thresholds"])
    detail = [] if fraction == 1.0 else [SCORE_MESSAGE.format(what="accuracy", detail=(
        f"{accuracy:.3f} on {labels.size} held-out digits; full points from {need:.2f}"))]
    return case.points * fraction, detail, ()


SCORERS: dict[str, Scorer] = {"kernel_response": _score_kernel_response, "accuracy": _score_accuracy}


# ---- running one case ----
def _copy(value):
    """A copy of the case's inputs: a function that writes into its input cannot corrupt the case."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (tuple, list)):
        return type(value)(_copy(v) for v in value)
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def _inner_stub(frames, functions, function: str) -> str | None:
    """The graded function whose stub raised, when it is not ``function`` itself: the innermost frame named like
    one of ``functions`` (the grader's own names, so no name the student's code made is ever shown)."""
    for frame in reversed(tuple(frames)):
        name = frame[2] if isinstance(frame, tuple) and len(frame) == 3 else None
        if isinstance(name, str) and name in functions:
            return name if name != function else None
    return None


def stub_message(function: str, stub: str | None) -> str:
    """What a student reads when ``function`` reached a stub: its own, or ``stub``'s that it calls."""
    return STUB_CALLS_MESSAGE.format(function=function, stub=stub) if stub else STUB_MESSAGE.format(function=function)


def run_case(case: Case, call, cells=None, functions=()) -> CaseResult:
    """Run ``case`` through ``call(name, args, kwargs)`` and grade the answer (never raises for student errors).
    ``cells``: cell number -> source of the submission, to name the student's line where the function raised.
    ``functions``: the assignment's graded functions, to name the one whose stub a call reached through another."""
    header = "\n".join([CASE_HEADER.format(case_id=case.case_id, function=case.function,
                                           inputs=describe_inputs(case)), *about_case(case)])

    def result(status: Status, points, lines, problem=None, diagnoses: tuple[str, ...] = (), *, wrong=(),
               raised: str | None = None, line: str | None = None, stub: str | None = None) -> CaseResult:
        return CaseResult(case.case_id, case.function, float(points), float(case.points), status,
                          "\n".join([header, *lines]), diagnoses, problem, wrong, raised, line, stub)

    try:
        if case.kind in SCORERS:
            points, lines, diagnoses = SCORERS[case.kind](case, call)
            if points == case.points:
                return result("passed", points, lines)
            return result("failed", points, lines, LOW_SCORE, diagnoses)
        got = call(case.function, _copy(case.args), _copy(case.kwargs))
    except CallTimeout:
        return result("timeout", 0, [TIMEOUT_MESSAGE.format(function=case.function)], TIMED_OUT)
    except FunctionMissing as exc:
        name = exc.args[0] if exc.args else case.function
        return result("missing", 0, [MISSING_MESSAGE.format(function=name)], NOT_DEFINED)
    except Exception as exc:
        names, message, tb = _exception_info(exc)
        if "NotImplementedError" in names:
            stub = _inner_stub(_frames(exc), functions, case.function)
            return result("stub", 0, [stub_message(case.function, stub)], IS_STUB, stub=stub)
        if case.kind == "raises" and set(names) & set(case.raises):
            return result("passed", case.points, [])
        # A remote exception's line is read from the grader's cells only, never from this process's linecache.
        where = cells if cells is not None or not isinstance(exc, StudentException) else {}
        raised, line = builtin_exception_name(names), student_line(_frames(exc), where)
        if case.kind == "raises":
            return result("failed", 0, [WRONG_EXCEPTION_MESSAGE.format(
                function=case.function, expected=" or ".join(case.raises), type=names[0], message=message), tb],
                WRONG_EXCEPTION, raised=raised, line=line)
        diagnosed = _diagnose_exception(names, case)
        return result("error", 0, [EXCEPTION_MESSAGE.format(function=case.function, type=names[0], message=message),
                                   tb.rstrip(), *_diagnosis_lines(diagnosed, case)], RAISED, diagnosed,
                      raised=raised, line=line)
    if case.kind == "raises":
        return result("failed", 0, [RAISES_MESSAGE.format(function=case.function, expected=" or ".join(case.raises),
                                                          got=_short(got) if got is not None else "None")],
                      NOT_RAISED)
    if got is None and case.expected is not None:
        return result("failed", 0, [NONE_MESSAGE.format(function=case.function)], RETURNED_NONE)
    problems = _problems(got, case.expected, case)
    if not problems:
        return result("passed", case.points, [])
    names = _diagnose(got, case)
    lines = [p.message for p in problems] + _diagnosis_lines(names, case)
    wrong = tuple((p.what, p.code, p.dtype) for p in problems)
    worst = min((p.code for p in problems), key=ANSWER_PROBLEMS.index)
    if worst == WRONG_DTYPE:  # right values: the dtype costs its own share only
        points = case.points * (1 - DTYPE_SHARE)
        lines.append(DTYPE_POINTS_MESSAGE.format(points=points, max_points=case.points, share=DTYPE_SHARE))
        return result("dtype", points, lines, WRONG_DTYPE, names, wrong=wrong)
    return result("failed", 0, lines, worst, names, wrong=wrong)


def hidden_output(result: CaseResult, case: Case) -> str:
    """What a hidden case's result says: its status, the grader's findings (which output is wrong and how, the
    built-in type of an exception and the student's own line that raised it) and the named mistakes. Never an
    input, an expected or a returned value, nor any text the student's code made."""
    lines = [HIDDEN_OUTPUT.format(status=result.status)]
    problem = result.problem or (IS_STUB if result.status == "stub" else None)
    fields = {"function": case.function, "expected": " or ".join(case.raises), "points": result.points,
              "max_points": result.max_points, "type": result.raised or NOT_BUILTIN}
    if problem in ANSWER_PROBLEMS:
        for what, code, dtype in result.wrong:
            if code == WRONG_DTYPE and case.dtype:
                lines.append(DTYPE_MESSAGE.format(what=what, expected=case.dtype, got=dtype))
            elif code == WRONG_DTYPE:
                lines.append(DTYPE_KIND_MESSAGE.format(what=what, got=dtype))
            else:
                lines.append(HIDDEN_PROBLEM_MESSAGES[code].format(what=what))
        if result.status == "dtype":
            lines.append(DTYPE_POINTS_MESSAGE.format(points=result.points, max_points=result.max_points,
                                                     share=DTYPE_SHARE))
    elif problem == IS_STUB:
        lines.append(stub_message(case.function, result.stub))
    elif problem in HIDDEN_PROBLEM_MESSAGES:
        lines.append(HIDDEN_PROBLEM_MESSAGES[problem].format(**fields)
                     + (" " + result.line if result.line and problem in (RAISED, WRONG_EXCEPTION) else ""))
    lines += _diagnosis_lines(result.diagnoses, case)
    return "\n".join(lines)


def _diagnosis_lines(names, case: Case) -> list[str]:
    return [DIAGNOSIS_MESSAGE.format(name=n, explanation=case.explanations.get(n, "")) for n in names]


def credit(cases: list[Case], results: list[CaseResult], twins: dict | None = None) -> list[CaseResult]:
    """The rule by which public and bad-input cases earn their points: only for a function that works.

    A public case earns its points when its twin passes too: the grader runs the same call again among the hidden
    cases on inputs of its own making (``twins``: ``{(function, case_id): passed}``). A function that gets the public
    case right gets its twin right; returning the shipped expected values does not. A public case without a twin
    earns its points when its function passes one of its hidden cases. A bad-input ("raises") case earns its points
    when its function earns points on an ordinary case. The self-check (public cases only) has neither twins nor
    hidden cases: there the public cases stand, and rejecting bad input counts once an ordinary case passes. A
    stub's bad-input cases say the provided checks earn nothing by themselves (:data:`PROVIDED_CHECK_MESSAGE`)."""
    twins = twins or {}
    hidden_fns = {c.function for c in cases if c.kind != "raises" and c.visibility != "visible"}
    passes_hidden = {c.function for c, r in zip(cases, results, strict=True)
                     if c.kind != "raises" and c.visibility != "visible" and r.points > 0}
    stub_only = {c.function for c in cases} - {c.function for c, r in zip(cases, results, strict=True)
                                               if c.kind != "raises" and r.status != "stub"}
    # The other function whose stub those ordinary cases reached (convolve2d calling correlate2d), if any.
    inner = {c.function: r.stub for c, r in zip(cases, results, strict=True) if r.status == "stub" and r.stub}

    def confirmed(c: Case) -> bool:
        if (c.function, c.case_id) in twins:
            return bool(twins[(c.function, c.case_id)])
        return c.function not in hidden_fns or c.function in passes_hidden

    def unconfirmed(c: Case, r: CaseResult) -> CaseResult:
        if c.function in stub_only:
            stub = inner.get(c.function)
            return replace(r, points=0.0, status="stub", diagnoses=(), problem=IS_STUB, stub=stub,
                           message="\n".join([r.message, PROVIDED_CHECK_MESSAGE.format(function=r.function)]
                                             + [stub_message(r.function, stub)] * bool(stub)))
        template = UNCONFIRMED_CHECK_MESSAGE if c.kind == "raises" else UNCONFIRMED_MESSAGE
        return replace(r, points=0.0, status="unconfirmed", diagnoses=(), problem=UNCONFIRMED,
                       message=r.message + "\n" + template.format(function=r.function))

    out = [unconfirmed(c, r) if r.points and c.kind != "raises" and c.visibility == "visible" and not confirmed(c)
           else r for c, r in zip(cases, results, strict=True)]
    works = {c.function for c, r in zip(cases, out, strict=True) if c.kind != "raises" and r.points > 0}
    return [unconfirmed(c, r) if r.points and c.kind == "raises" and c.function not in works else r
            for c, r in zip(cases, out, strict=True)]


class CheckFailed(AssertionError):
    """A check cell's verdict. IPython shows an exception that has ``_render_traceback_`` as the lines that method
    returns, so the notebook shows this one line rather than a traceback into convkit_check's own code."""

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


def check(function_name: str, func, *, verbose: bool = True, directory=None, namespace: dict | None = None):
    """Run the public cases of ``function_name`` on ``func`` and print a report; AssertionError if any fails.

    Other names a case calls (``predict`` for the accuracy case) are looked up in ``namespace``, by default the
    caller's globals (the notebook)."""
    cases = public_cases_for(function_name, directory)
    functions = {c.function for c in load_public_cases(directory)}
    if not cases:
        raise LookupError(NO_CASES_MESSAGE.format(function=function_name, path=directory or RELEASE_DIR))
    others = namespace if namespace is not None else sys._getframe(1).f_globals

    def call(name, args, kwargs):
        if name == function_name:
            return call_in_namespace({name: func}, name, args, kwargs)
        return call_in_namespace(others, name, args, kwargs)

    results = credit(cases, [run_case(case, call, functions=functions) for case in cases])
    passed = sum(r.passed for r in results)
    warning = numpy_version_warning(directory)
    if verbose and warning:
        print(warning)
    stubs = {r.stub for r in results if r.status == "stub"}
    if passed == 0 and len(stubs) == 1 and all(r.status == "stub" for r in results):
        # Not implemented (itself, or the one function it calls): one line, not the same line once per case.
        raise CheckFailed(stub_message(function_name, stubs.pop()))
    if verbose:
        for r in results:
            print(f"[passed] case {r.case_id}" if r.passed else f"[{r.status.upper()}] {r.message}")
        print(SUMMARY_MESSAGE.format(passed=passed, total=len(results)))
    if passed != len(results):
        raise CheckFailed(CHECK_FAILED_MESSAGE.format(failed=len(results) - passed, total=len(results),
                                                      function=function_name))
    # Nothing is returned: the check cell's last value would be displayed under the report (and stock nbgrader
    # would try to read it as a partial-credit score).
