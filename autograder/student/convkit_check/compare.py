"""Describing and comparing values, diagnosing known mistakes, and what an exception tells (its built-in type, the
student's own line): all a hidden case reports is computed here, from the grader's own data."""
from __future__ import annotations

import builtins
import linecache
import numbers
import os
import re
import traceback
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .calls import StudentException
from .cases import Case
from .codec import CALLABLES, Raises
from .grid import drawable, side_by_side
from .messages import (CASE_ABOUT_MESSAGE, CASE_CALL, CASE_INDEX, CASE_LOAD_MESSAGE, CASE_SCORED,
                       DTYPE_KIND_MESSAGE, DTYPE_MESSAGE, EXACT_MESSAGE, HIDDEN_LINE_MESSAGE, KEYS_MESSAGE,
                       NON_FINITE, NONFINITE_MESSAGE, PARTS_MESSAGE, SHAPE_MESSAGE, TYPE_MESSAGE, VALUE_MESSAGE,
                       WRONG_DTYPE, WRONG_SHAPE, WRONG_TYPE, WRONG_VALUES)

_MAX_TRACEBACK_FRAMES = 6
_MAX_LINE_CHARS = 160


def _short(value) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.shape} {value.dtype}" if value.size > 1 or value.ndim else f"{value.item()!r}"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    if callable(value):
        return next((f"<{n}>" for n, f in CALLABLES.items() if f is value), "<function>")
    return repr(value)


def describe_inputs(case: Case) -> str:
    """``image (5, 5) float64, kernel (3, 3) float64, pad=1``: what a student needs to rebuild the call."""
    names = list(case.arg_names) + [f"arg{i}" for i in range(len(case.arg_names), len(case.args))]
    parts = [f"{n} {_short(v)}" for n, v in zip(names, case.args, strict=False)]  # names may outnumber args
    parts += [f"{k}={_short(v)}" for k, v in case.kwargs.items()]
    return ", ".join(parts) or "no arguments"


def about_case(case: Case) -> list[str]:
    """What a PUBLIC case is and the one line that loads its inputs in the notebook (nothing for a hidden one:
    its inputs never leave the grader)."""
    if case.visibility != "visible":
        return []
    # The calling rule (calls.call_in_namespace): a name in capitals is the provided dict, indexed by args[0].
    call = (CASE_INDEX if case.function.isupper() else CASE_CALL if case.kind in ("array", "exact")
            else CASE_SCORED).format(function=case.function)
    about = [CASE_ABOUT_MESSAGE.format(description=case.description)] if case.description else []
    return about + [CASE_LOAD_MESSAGE.format(function=case.function, case_id=case.case_id, call=call)]


def _fmt(x) -> str:
    # + 0.0 turns -0.0 into 0.0: "got -0, expected 0" would read as a difference
    return f"{float(x) + 0.0:.6g}" if isinstance(x, (float, np.floating)) else repr(x)


def _with_grid(message: str, got, expected, differ=None) -> str:
    """``message``, and below it both arrays drawn whole when they are small (:mod:`.grid`)."""
    if not drawable(got, expected) or np.asarray(got).ndim > 4 or np.asarray(expected).ndim > 4:
        return message
    return message + "\n" + side_by_side(got, expected, differ)


class _Problem(NamedTuple):
    """One way one output differs: which output, the problem (:data:`ANSWER_PROBLEMS`), the full message, and the
    returned dtype's name for a wrong dtype."""

    what: str
    code: str
    message: str
    dtype: str | None = None


def _array_problems(got, expected, what, case) -> list:
    exp = np.asarray(expected)
    want = f"an array of shape {exp.shape}"
    if got is None:
        return [_Problem(what, WRONG_TYPE, TYPE_MESSAGE.format(what=what, expected="an array", got="None"))]
    if not isinstance(got, (np.ndarray, np.generic, numbers.Number, list, tuple)) or isinstance(got, (bool, str)):
        return [_Problem(what, WRONG_TYPE, TYPE_MESSAGE.format(what=what, expected=want, got=type(got).__name__))]
    try:
        arr = np.asarray(got)
    except Exception:  # ragged lists and the like
        return [_Problem(what, WRONG_TYPE, TYPE_MESSAGE.format(what=what, expected=want, got=type(got).__name__))]
    if arr.dtype.kind not in "biuf":
        return [_Problem(what, WRONG_TYPE, TYPE_MESSAGE.format(what=what, expected="real numbers",
                                                               got=f"dtype {arr.dtype}"))]
    if arr.shape != exp.shape:
        return [_Problem(what, WRONG_SHAPE, _with_grid(
            SHAPE_MESSAGE.format(what=what, expected=exp.shape, got=arr.shape), arr, exp))]
    found = []  # a wrong dtype is reported beside the values, never instead of them
    if exp.dtype.kind == "f" and arr.dtype.kind != "f":
        found.append(_Problem(what, WRONG_DTYPE, DTYPE_KIND_MESSAGE.format(what=what, got=arr.dtype), arr.dtype.name))
    elif case.dtype and exp.dtype.kind == "f" and arr.dtype != np.dtype(case.dtype):
        found.append(_Problem(what, WRONG_DTYPE, DTYPE_MESSAGE.format(what=what, expected=case.dtype, got=arr.dtype),
                              arr.dtype.name))
    a, e = arr.astype(np.float64), exp.astype(np.float64)
    bad_finite = ~np.isfinite(a) & np.isfinite(e)
    if bad_finite.any():
        index = tuple(int(i) for i in np.argwhere(bad_finite)[0])
        return found + [_Problem(what, NON_FINITE, _with_grid(NONFINITE_MESSAGE.format(
            what=what, count=int(bad_finite.sum()), index=index), a, e, bad_finite))]
    with np.errstate(invalid="ignore"):
        tol = np.where(np.isfinite(e), case.atol + case.rtol * np.abs(e), 0.0)
    with np.errstate(invalid="ignore"):
        same = (a == e) | (np.isnan(a) & np.isnan(e))  # nan where nan is expected: a diagnosis of overflow
        diff = np.where(np.isfinite(e), np.abs(a - e), np.where(same, 0.0, np.inf))
    excess = diff - tol
    if not (excess > 0).any():
        return found
    flat = int(np.argmax(excess))
    index = tuple(int(i) for i in np.unravel_index(flat, e.shape)) if e.ndim else ()
    return found + [_Problem(what, WRONG_VALUES, _with_grid(VALUE_MESSAGE.format(
        what=what, count=int((excess > 0).sum()), size=e.size, index=index, got=_fmt(a.flat[flat]),
        expected=_fmt(e.flat[flat]), diff=float(diff.flat[flat]), tol=float(tol.flat[flat])), a, e, excess > 0))]


def _problems(got, expected, case: Case, what: str = "result") -> list:
    """Every way ``got`` differs from ``expected``, as :class:`_Problem` s; tuples, lists and dicts element by
    element (the dtype rule applies to each array output), named by ``case.output_names``."""
    if case.kind == "exact":
        ok = type(got) is type(expected) or (isinstance(got, numbers.Integral) and isinstance(expected, int)
                                             and not isinstance(got, bool))
        if isinstance(expected, tuple) and isinstance(got, (tuple, list)):
            ok = len(got) == len(expected) and all(
                isinstance(g, numbers.Integral) and not isinstance(g, bool) for g in got)
            got = tuple(int(g) for g in got) if ok else got
        if ok and got == expected:
            return []
        return [_Problem(what, WRONG_VALUES if ok else WRONG_TYPE,
                         EXACT_MESSAGE.format(what=what, expected=expected, got=got))]
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return [_Problem(what, WRONG_TYPE, TYPE_MESSAGE.format(
                what=what, expected=f"a tuple of {len(expected)} values",
                got=_short(got) if isinstance(got, (tuple, list)) else type(got).__name__))]
        names = list(case.output_names) or [f"{what}[{i}]" for i in range(len(expected))]
        return _parts(what, [(n, _problems(g, e, case, n)) for n, g, e in zip(names, got, expected, strict=True)])
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            return [_Problem(what, WRONG_TYPE, KEYS_MESSAGE.format(
                what=what, expected=sorted(expected),
                got=sorted(got) if isinstance(got, dict) else type(got).__name__))]
        return _parts(what, [(f"{what}[{k!r}]", _problems(got[k], expected[k], case, f"{what}[{k!r}]"))
                             for k in expected])
    return _array_problems(got, expected, what, case)


def _parts(what: str, parts: list) -> list:
    """The problems of a result's parts (``(name, problems)`` each, in order); when some parts are right and
    others wrong, the first problem's message opens with which are which (a gradient check names the right
    parameters as well as the wrong ones). The problems' codes are unchanged, so is how the case is scored."""
    found = [p for _, problems in parts for p in problems]
    wrong = [name for name, problems in parts if problems]
    right = [name for name, problems in parts if not problems]
    if found and right:
        head = PARTS_MESSAGE.format(what=what, right=", ".join(right), wrong=", ".join(wrong))
        found[0] = found[0]._replace(message=f"{head}\n{found[0].message}")
    return found


def compare(got, expected, case: Case, what: str = "result") -> list[str]:
    """Every way ``got`` differs from ``expected`` (empty when it matches within the case's tolerance, in the
    case's dtype); tuples, lists and dicts are compared element by element, named by ``case.output_names``."""
    return [p.message for p in _problems(got, expected, case, what)]


def _matches(got, value, case: Case) -> bool:
    """Does ``got`` equal ``value`` within the case's tolerance, whatever its dtype?"""
    try:
        return not [p for p in _problems(got, value, case) if p.code != WRONG_DTYPE]
    except Exception:
        return False


def _diagnose(got, case: Case) -> tuple[str, ...]:
    """Names of the known mistakes whose answer ``got`` matches (and which differ from the correct answer), in
    any dtype: a wrong dtype is reported on its own, never as a different mistake.
    For tuples, a mistake matches when every output it changes is matched (the others may be wrong too)."""
    found: list[str] = []
    for name, mistaken in case.diagnoses.items():
        if isinstance(mistaken, Raises) or _matches(mistaken, case.expected, case):
            continue
        if isinstance(mistaken, tuple) and isinstance(got, (tuple, list)) and len(got) == len(mistaken):
            changed = [i for i, (m, e) in enumerate(zip(mistaken, case.expected, strict=True))
                       if not _matches(m, e, case)]
            sub = Case(**{**case.__dict__, "output_names": ()})
            if all(_matches(got[i], mistaken[i], sub) for i in changed):
                found.append(name)
        elif _matches(got, mistaken, case):
            found.append(name)
    return tuple(found)


def _diagnose_exception(type_names, case: Case) -> tuple[str, ...]:
    """Names of the known mistakes that raise what the student's code raised (``type_names``: its class and bases)."""
    return tuple(name for name, mistaken in case.diagnoses.items()
                 if isinstance(mistaken, Raises) and set(mistaken.type_names) & set(type_names))


def format_student_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` without this package's (and NumPy's) frames: the student's own lines."""
    frames = traceback.extract_tb(exc.__traceback__)
    skip = tuple(str(Path(f).resolve().parent) + os.sep for f in (__file__, np.__file__))
    keep = [f for f in frames if not f.filename.startswith(skip)] or frames[-1:]
    lines = traceback.format_list(keep[-_MAX_TRACEBACK_FRAMES:])
    return "".join(lines) + "".join(traceback.format_exception_only(type(exc), exc))


def _exception_info(exc: BaseException) -> tuple[tuple, str, str]:
    if isinstance(exc, StudentException):
        return exc.type_names, exc.message, exc.traceback_text
    return tuple(t.__name__ for t in type(exc).__mro__), str(exc), format_student_traceback(exc)


def builtin_exception_name(type_names) -> str | None:
    """The first of ``type_names`` (an exception's class and its bases, most derived first, as the worker reported
    them: it may lie) that names a real built-in exception class; None when none does. Only such a name, never one
    the student's code made, is shown on a hidden case."""
    for name in type_names:
        obj = getattr(builtins, name, None) if isinstance(name, str) and name.isidentifier() else None
        if isinstance(obj, type) and issubclass(obj, BaseException):
            return name
    return None


_CELL_FILE = re.compile(r"<cell (\d+)>")


def _frames(exc: BaseException) -> tuple:
    """``((filename, lineno, funcname), ...)`` of where ``exc`` was raised, innermost last: reported by the worker
    for a remote exception, read from the traceback for a local one."""
    if isinstance(exc, StudentException):
        return tuple(getattr(exc, "frames", ()) or ())
    return tuple((f.filename, f.lineno, f.name) for f in traceback.extract_tb(exc.__traceback__))


def student_line(frames, cells=None) -> str | None:
    """The student's own line where the exception was raised: the innermost frame in a ``<cell N>`` whose text
    ``cells`` (cell number -> source, the grader's own copy of the notebook) holds; None when there is none.
    Without ``cells`` (the self-check, in-process) the text comes from ``linecache``, where load_notebook put the
    cells."""
    for frame in reversed(tuple(frames)):
        try:
            filename, lineno = frame[0], frame[1]
        except (TypeError, IndexError, KeyError):
            continue
        match = _CELL_FILE.fullmatch(filename) if isinstance(filename, str) else None
        if not match or not isinstance(lineno, int) or isinstance(lineno, bool) or lineno < 1:
            continue
        cell = int(match.group(1))
        if cells is not None:
            source = cells.get(cell)
            lines = source.splitlines() if isinstance(source, str) else []
            text = lines[lineno - 1] if lineno <= len(lines) else None
        else:
            text = linecache.getline(filename, lineno) or None
        if text and text.strip():
            text = text.strip()
            text = text if len(text) <= _MAX_LINE_CHARS else text[:_MAX_LINE_CHARS - 3] + "..."
            return HIDDEN_LINE_MESSAGE.format(cell=cell, lineno=lineno, text=text)
    return None


