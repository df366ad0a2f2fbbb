"""The assignments of the course and their graded cases, as data (invariant 3: one suite definition, two oracles).

The registry: :data:`ASSIGNMENTS` names the assignments in course order, each the module
``autograder/suites/<name>.py``, which declares its :class:`~autograder.assignment.Assignment` as ``ASSIGNMENT``
(:func:`assignment`, :func:`assignments`). Each lists its cases with :func:`case`;
:func:`cases_for` fills in the expected values from the LIVE reference and, for every known mistake of
:mod:`autograder.mistakes`, the answer that mistake gives (``diagnoses``, kept only where it differs from the
correct answer). :func:`freeze_public` writes the public ("visible") cases for a release, with the grader's NumPy
version; hidden ones never leave the grader.
"""
from __future__ import annotations

import functools
import importlib
import inspect
import secrets
from dataclasses import replace

import numpy as np

from autograder.assignment import Assignment
from autograder.mistakes import MISTAKES, mistaken_answers
from autograder.student.convkit_check import (ATOL_FLOAT32, ATOL_FLOAT64, RTOL_FLOAT32, RTOL_FLOAT64, Case,
                                              compare, save_cases)

__all__ = ["ASSIGNMENTS", "UNKNOWN_ASSIGNMENT", "Assignment", "assignment", "assignments", "assignment_names",
           "Case", "case", "cases_for", "twins_for", "TWIN_SCALES", "freeze_public",
           "points_by_function", "reference_function"]

ASSIGNMENTS = ("convolution", "layers", "backprop", "cnn")  # course order; each one is autograder/suites/<name>.py
UNKNOWN_ASSIGNMENT = "unknown assignment {name!r}; expected one of {known}"
TWIN_SCALES = (0.5, 2.0, 4.0)
TWIN_SUFFIX = "~twin"
VISIBILITIES = ("visible", "hidden")


def assignment(name: str) -> Assignment:
    """The registered assignment called ``name``; ValueError (:data:`UNKNOWN_ASSIGNMENT`) for any other name."""
    if name not in ASSIGNMENTS:
        raise ValueError(UNKNOWN_ASSIGNMENT.format(name=name, known=", ".join(ASSIGNMENTS)))
    return importlib.import_module(f"autograder.suites.{name}").ASSIGNMENT


def assignment_names() -> tuple[str, ...]:
    """The registered assignments' names, in course order (without importing their modules)."""
    return ASSIGNMENTS


def assignments() -> list[Assignment]:
    """Every registered assignment, in course order."""
    return [assignment(name) for name in ASSIGNMENTS]


_REFERENCE_MODULES = ("image", "conv", "layers", "pool", "softmax_ce", "gradcheck", "cnn")


def reference_function(name: str):
    """The reference object called ``name`` (a function, or the ``KERNELS`` dict), from its submodule.

    (Not ``getattr(reference, name)``: once ``reference.softmax`` the module is imported, that attribute is the
    module, no longer the function.)"""
    for module_name in _REFERENCE_MODULES:
        module = importlib.import_module(f"reference.{module_name}")
        if name in getattr(module, "__all__", ()):
            return getattr(module, name)
    raise LookupError(f"no reference function {name!r}")


def _arg_names(function: str, n: int) -> tuple:
    try:
        params = list(inspect.signature(reference_function(function)).parameters)
    except (TypeError, ValueError, LookupError):  # no reference function (the kernel-design exercise)
        return ()
    return tuple(params[:n])


def case(function: str, case_id: str, *args, points: float = 1.0, public: bool = False, kind: str = "array",
         raises: tuple = (), rtol: float | None = None, atol: float | None = None, output_names: tuple = (),
         data: dict | None = None, options: dict | None = None, description: str = "", expected=None,
         **kwargs) -> Case:
    """One row of a case table; the assignment, the expected value and the diagnoses are filled in later. A
    tolerance not given is the one of the inputs' float dtype (float32 when any float input is float32)."""
    if points * 2 != int(points * 2):
        raise ValueError(f"points must be a whole or half number, got {points} for {function}/{case_id}")
    f32 = _has_float32(args) or _has_float32(kwargs.values())
    rtol = rtol if rtol is not None else (RTOL_FLOAT32 if f32 else RTOL_FLOAT64)
    atol = atol if atol is not None else (ATOL_FLOAT32 if f32 else ATOL_FLOAT64)
    return Case(assignment="", function=function, case_id=case_id, args=tuple(args), kwargs=kwargs,
                points=float(points), visibility="visible" if public else "hidden", kind=kind,
                raises=tuple(raises), rtol=rtol, atol=atol, output_names=tuple(output_names), data=data or {},
                options=options or {}, description=description, expected=expected)


def _has_float32(values) -> bool:
    for v in values:
        if isinstance(v, np.ndarray) and v.dtype == np.float32:
            return True
        if isinstance(v, (tuple, list)) and _has_float32(v):
            return True
    return False


def _float_dtypes(value) -> set:
    """The dtypes of the float arrays in ``value`` (an array, or tuples, lists and dicts of them)."""
    if isinstance(value, np.ndarray):
        return {str(value.dtype)} if value.dtype.kind == "f" else set()
    if isinstance(value, (tuple, list)):
        return set().union(*map(_float_dtypes, value)) if value else set()
    if isinstance(value, dict):
        return _float_dtypes(list(value.values()))
    return set()


def _with_expected(c: Case, f32: bool) -> Case:
    """``c`` with the live reference's answer as its expected value, and the dtype the answer must have."""
    obj = reference_function(c.function)
    copied = tuple(np.array(a) if isinstance(a, np.ndarray) else a for a in c.args)
    expected = obj(*copied, **c.kwargs) if callable(obj) else obj[c.args[0]]
    expected = np.array(expected) if isinstance(expected, np.ndarray) else expected
    # The dtype rule (convkit_check): every float array of the result, alone or in a tuple or dict, has the
    # dtype of the floating inputs. Checked where a float32 input makes it differ from NumPy's float64 default.
    dtypes = _float_dtypes(expected)
    return replace(c, expected=expected, dtype=dtypes.pop() if f32 and len(dtypes) == 1 else None)


def _complete(assignment: str, c: Case) -> Case:
    f32 = _has_float32(c.args) or _has_float32(c.kwargs.values())
    c = replace(c, assignment=assignment, arg_names=c.arg_names or _arg_names(c.function, len(c.args)))
    if c.kind in ("array", "exact"):
        c = _with_expected(c, f32)
        expected = c.expected
        diagnoses = {}
        for name, value in mistaken_answers(c.function, c.args, c.kwargs).items():
            if compare(value, expected, replace(c, dtype=None)):  # keep only mistakes that change the answer
                diagnoses[name] = np.array(value) if isinstance(value, np.ndarray) else value
        c = replace(c, diagnoses=diagnoses, explanations={n: MISTAKES[n].explanation for n in diagnoses})
    return c


def _described(name: str, c: Case) -> Case:
    """``c`` with its description from the suite module's ``DESCRIPTIONS`` when the row itself gives none."""
    about = getattr(importlib.import_module(f"autograder.suites.{name}"), "DESCRIPTIONS", {})
    return c if c.description else replace(c, description=about.get((c.function, c.case_id), ""))


@functools.cache
def _all_cases(name: str) -> tuple[Case, ...]:
    cases = tuple(_complete(name, _described(name, c)) for c in assignment(name).cases())
    ids = [(c.function, c.case_id) for c in cases]
    if len(set(ids)) != len(ids):
        raise ValueError(f"duplicate case ids in {name}")
    return cases


def _scaled(value, scale: float):
    """``value`` with every float array multiplied by ``scale`` (a power of two: exact), everything else kept."""
    if isinstance(value, np.ndarray):
        return value * value.dtype.type(scale) if value.dtype.kind == "f" else value
    if isinstance(value, tuple):
        return tuple(_scaled(v, scale) for v in value)
    if isinstance(value, list):
        return [_scaled(v, scale) for v in value]
    if isinstance(value, dict):
        return {k: _scaled(v, scale) for k, v in value.items()}
    return value


@functools.cache
def _twins(assignment: str) -> dict[tuple[str, str], Case]:
    # The scale is drawn once per grading process and never leaves it: a submission cannot tabulate the twins'
    # answers the way it could tabulate the public ones.
    scale = secrets.choice(TWIN_SCALES)
    twins = {}
    for c in cases_for(assignment, "visible"):
        if c.kind != "array" or not (_float_dtypes(list(c.args)) | _float_dtypes(c.kwargs)):
            continue
        twin = replace(c, case_id=f"{c.case_id}{TWIN_SUFFIX}", args=_scaled(c.args, scale),
                       kwargs=_scaled(c.kwargs, scale), visibility="hidden", points=0.0, diagnoses={},
                       explanations={}, description=f"the grader's twin of {c.case_id}")
        try:
            twins[(c.function, c.case_id)] = _with_expected(twin, c.dtype is not None)
        except (ValueError, TypeError):  # the reference refuses the scaled inputs: this case has no twin
            continue
    return twins


def twins_for(assignment: str, cases) -> dict[tuple[str, str], Case]:
    """The grader's hidden twin of each public case among ``cases`` that has one: the same call with every float
    input scaled by a power of two drawn per process (convkit_check.credit: a public case earns its points when
    its twin passes too). Keyed by the public case's ``(function, case_id)``."""
    twins = _twins(assignment)
    return {(c.function, c.case_id): twins[(c.function, c.case_id)] for c in cases
            if c.visibility == "visible" and (c.function, c.case_id) in twins}


def cases_for(assignment: str, visibility: str | None = None) -> list[Case]:
    """The cases of ``assignment`` (all, or only "visible" / "hidden"), expected values from the live reference."""
    if visibility is not None and visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {VISIBILITIES} or None, got {visibility!r}")
    return [c for c in _all_cases(assignment) if visibility in (None, c.visibility)]


def points_by_function(assignment: str) -> dict[str, float]:
    """Total points (public + hidden cases) of each graded function, in case-table order."""
    totals: dict[str, float] = {}
    for c in cases_for(assignment):
        totals[c.function] = totals.get(c.function, 0.0) + c.points
    return totals


def freeze_public(assignment: str, dest_dir):
    """Write the public cases of ``assignment`` to dest_dir/public_cases.json + public_cases.npz (data only)."""
    public = cases_for(assignment, "visible")
    # The grader's NumPy: the self-check warns a student whose NumPy major version differs (convkit_check).
    return save_cases(public, dest_dir, extra={"assignment": assignment, "numpy": np.__version__,
                                               "points_by_function": points_by_function(assignment)})
