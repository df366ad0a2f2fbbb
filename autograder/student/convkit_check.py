"""convkit's case runner: the one piece of comparison code that the student's self-check and the grader share.

Shipped into every release folder beside the notebook, so it imports only NumPy, nbformat and the standard library.

* ``check("correlate2d", correlate2d)`` -- run the public cases of one function in the notebook and print a report.
* ``load_notebook(path)`` / ``notebook_source(path)`` -- the code a submission defines (solution and setup cells;
  nbgrader test cells and cells tagged ``convkit-demo`` are skipped, IPython magics are commented out).
* ``run_case(case, call, cells)`` -- one graded case -> :class:`CaseResult`. ``call(name, args, kwargs)`` runs the
  student's function, in-process here or through the grader's sandbox proxy, which reports a remote failure by raising
  :class:`StudentException`, :class:`CallTimeout` or :class:`FunctionMissing`; ``cells`` (cell number -> source, the
  grader's own copy of the notebook) names the student's line where the function raised.
* ``hidden_output(result, case)`` -- what a hidden case tells the student: its status, the problem the grader found
  (never an input, an expected or a returned value, nor a string the student's code made), the named mistake.
* The dtype rule, the same for every function and every output of a tuple or dict: a float array result has the
  case's dtype, the dtype of its floating inputs (float32 in, float32 out). Right values in another dtype earn the
  case's points less :data:`DTYPE_SHARE` (status "dtype").
* Public cases live in ``public_cases.json`` + ``public_cases.npz`` next to this file (see ``encode_value``).
"""
from __future__ import annotations

import builtins
import json
import linecache
import numbers
import os
import re
import sys
import traceback
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

__all__ = [
    "Case", "CaseResult", "Raises", "StudentException", "CallTimeout", "FunctionMissing", "CALLABLES", "SCORERS",
    "check", "run_case", "call_in_namespace", "notebook_source", "notebook_cells", "load_notebook",
    "encode_value", "decode_value", "save_cases", "load_cases", "load_public_cases", "public_cases_for",
    "format_student_traceback", "describe_inputs", "compare", "credit", "hidden_output",
    "builtin_exception_name", "student_line", "numpy_version_warning", "PROBLEMS", "DTYPE_SHARE",
    "STUB_MESSAGE", "DTYPE_MESSAGE", "DTYPE_POINTS_MESSAGE", "HIDDEN_OUTPUT", "HIDDEN_PROBLEM_MESSAGES",
    "NUMPY_VERSION_MESSAGE", "NONE_MESSAGE", "MISSING_MESSAGE", "SUMMARY_MESSAGE", "DIAGNOSIS_MESSAGE",
]

# ---- tolerances (the suites copy them into each case; a case may tighten or loosen them) ----
RTOL_FLOAT64, ATOL_FLOAT64 = 1e-7, 1e-9
RTOL_FLOAT32, ATOL_FLOAT32 = 1e-4, 1e-5
STATUSES = ("passed", "dtype", "failed", "error", "stub", "timeout", "missing", "unconfirmed")
# A right answer in the wrong dtype loses this share of the case's points (invariant 9: a convention costs at most
# its own share). A quarter: with whole and half points per case, every score stays an exact binary fraction.
DTYPE_SHARE = 0.25
PUBLIC_JSON, PUBLIC_NPZ = "public_cases.json", "public_cases.npz"
FORMAT_VERSION = 1
DEMO_TAG = "convkit-demo"
CELL_ERRORS = "__convkit_cell_errors__"
_MAX_TRACEBACK_FRAMES = 6
_MAX_LINE_CHARS = 160

# ---- problems: what run_case found wrong, computed by the grader (all that a hidden case reports) ----
WRONG_TYPE, WRONG_SHAPE, NON_FINITE, WRONG_VALUES, WRONG_DTYPE = (
    "wrong-type", "wrong-shape", "non-finite", "wrong-values", "wrong-dtype")
RETURNED_NONE, RAISED, NOT_RAISED, WRONG_EXCEPTION = "returned-none", "raised", "did-not-raise", "wrong-exception"
TIMED_OUT, NOT_DEFINED, IS_STUB, LOW_SCORE = "timeout", "missing", "stub", "low-score"
UNCONFIRMED = "unconfirmed"  # credit(): a public or bad-input case of a function that passed no hidden case
ANSWER_PROBLEMS = (WRONG_TYPE, WRONG_SHAPE, NON_FINITE, WRONG_VALUES, WRONG_DTYPE)  # most severe first
PROBLEMS = ANSWER_PROBLEMS + (RETURNED_NONE, RAISED, NOT_RAISED, WRONG_EXCEPTION, TIMED_OUT, NOT_DEFINED, IS_STUB,
                              LOW_SCORE, UNCONFIRMED)

# ---- messages a student reads (tests import and match these) ----
STUB_MESSAGE = ("{function} is not implemented yet: replace `raise NotImplementedError()` in its solution cell "
                "with your code")
NONE_MESSAGE = "{function} returned None: did you forget `return`?"
MISSING_MESSAGE = ("{function} is not defined: run its solution cell (and the cells above it) without errors, and "
                   "keep the name {function}")
CELL_ERROR_MESSAGE = "cell {cell} raised {type}: {message}"
TIMEOUT_MESSAGE = "{function} did not finish within the time limit on this case (an endless loop?)"
EXCEPTION_MESSAGE = "{function} raised {type}: {message}"
CASE_HEADER = "case {case_id} of {function}: {inputs}"
SHAPE_MESSAGE = "{what}: expected shape {expected}, got shape {got}"
TYPE_MESSAGE = "{what}: expected {expected}, got {got}"
DTYPE_KIND_MESSAGE = "{what}: expected a float array, got dtype {got} (integer arithmetic truncates)"
DTYPE_MESSAGE = "{what}: expected dtype {expected} (the dtype of the input), got {got}"
NONFINITE_MESSAGE = "{what}: {count} element(s) are NaN or infinite where the expected value is finite, first at {index}"
VALUE_MESSAGE = ("{what}: {count} of {size} element(s) differ; worst at index {index}: got {got}, expected "
                 "{expected}, |diff| = {diff:.3g} > tolerance {tol:.3g}")
EXACT_MESSAGE = "{what}: expected {expected!r}, got {got!r}"
KEYS_MESSAGE = "{what}: expected keys {expected}, got keys {got}"
RAISES_MESSAGE = "expected {function} to raise {expected} for this bad input, but it returned a {got}"
WRONG_EXCEPTION_MESSAGE = "expected {function} to raise {expected} for this bad input, got {type}: {message}"
DIAGNOSIS_MESSAGE = "likely mistake ({name}): {explanation}"
PROVIDED_CHECK_MESSAGE = ("the input checks of {function} are given in its cell; they earn points once {function} "
                          "itself is implemented")
UNCONFIRMED_MESSAGE = ("this public case earns its points when {function} also gets the grader's variant of it right "
                       "(the same call on inputs of the grader's making, graded with the hidden cases): the public "
                       "answers alone are not an implementation")
UNCONFIRMED_CHECK_MESSAGE = ("rejecting bad input earns points once {function} also computes a right answer on an "
                             "ordinary case")
SUMMARY_MESSAGE = "{passed} of {total} public cases passed — hidden cases are graded too"
NO_CASES_MESSAGE = "no public cases for {function} in {path}"
SCORE_MESSAGE = "{what}: {detail}"
DTYPE_POINTS_MESSAGE = ("the values are right, only the dtype is wrong: {points:g} of {max_points:g} points (a wrong "
                        "dtype costs {share:.0%} of a case)")
NUMPY_VERSION_MESSAGE = ("warning: you run NumPy {here}, the grader NumPy {grader} (the public cases were frozen with "
                         "it); code can behave differently across NumPy major versions (from NumPy 2 on, putting a "
                         "size-1 array into one element is an error), so install the grader's: "
                         "python -m pip install \"numpy>={major},<{next}\"")
# What a hidden case says (beside its name): its status, then the grader's own findings, never the student's values.
HIDDEN_OUTPUT = "hidden case: {status}"
HIDDEN_PROBLEM_MESSAGES = {
    WRONG_TYPE: "{what}: not the kind of value expected (an array, a tuple of arrays, a number)",
    WRONG_SHAPE: "{what}: wrong shape",
    NON_FINITE: "{what}: NaN or infinite values where the expected values are finite",
    WRONG_VALUES: "{what}: right shape, wrong values",
    RETURNED_NONE: NONE_MESSAGE,
    RAISED: "{function} raised {type}",
    NOT_RAISED: "expected {function} to raise {expected} for this bad input, but it returned a value",
    WRONG_EXCEPTION: "expected {function} to raise {expected} for this bad input, but it raised {type}",
    TIMED_OUT: TIMEOUT_MESSAGE,
    NOT_DEFINED: MISSING_MESSAGE,
    IS_STUB: STUB_MESSAGE,
    LOW_SCORE: "{points:g} of {max_points:g} points by the case's measure",
    UNCONFIRMED: UNCONFIRMED_CHECK_MESSAGE,
}
HIDDEN_LINE_MESSAGE = "at cell {cell}, line {lineno}: {text}"
NOT_BUILTIN = "an exception that is not a built-in one (or the worker crashed)"


class StudentException(Exception):
    """An exception raised by student code in another process, as the sandbox proxy reports it. ``frames``: the
    notebook-cell frames, ``(filename "<cell N>", line number, function name)`` tuples, innermost last."""

    def __init__(self, type_names, message: str, traceback_text: str = "", frames=()):
        self.type_names = tuple([type_names] if isinstance(type_names, str) else type_names)
        self.message, self.traceback_text = message, traceback_text
        self.frames = tuple(frames)
        super().__init__(f"{self.type_names[0]}: {message}")


class CallTimeout(Exception):
    """The student's function ran past its wall-clock limit (raised by the sandbox proxy)."""


class FunctionMissing(Exception):
    """The submission defines no object of the requested name."""


@dataclass
class Case:
    """One graded case: data, identical for the self-check (frozen) and the grader (live).

    ``kind``: "array" (numeric comparison, nested through tuples/lists/dicts), "exact" (ints, ==), "raises" (the
    call must raise one of ``raises``), "kernel_response" / "accuracy" (scorers of :data:`SCORERS`, reading
    ``data`` and ``options``). ``diagnoses`` maps a mistake name to the answer that mistake gives on these inputs,
    ``explanations`` the name to its student-facing text. ``dtype``: the result's required dtype, or None.
    """

    assignment: str
    function: str
    case_id: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    points: float = 1.0
    visibility: str = "hidden"
    kind: str = "array"
    expected: Any = None
    rtol: float = RTOL_FLOAT64
    atol: float = ATOL_FLOAT64
    dtype: str | None = None
    raises: tuple = ()
    diagnoses: dict = field(default_factory=dict)
    explanations: dict = field(default_factory=dict)
    arg_names: tuple = ()
    output_names: tuple = ()
    data: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    description: str = ""


@dataclass(frozen=True)
class Raises:
    """A mistake's answer that is an exception: code making that mistake raises one of ``type_names`` where the
    reference returns a value (a stride that does not divide the input rejected, say). Kept in ``diagnoses``."""

    type_names: tuple


@dataclass
class CaseResult:
    """One graded case's outcome. ``message``: the full report (public cases). The rest is what the grader computed
    itself, safe to show on a hidden case: ``problem`` (one of :data:`PROBLEMS`), ``wrong`` ((output name, problem,
    returned dtype name) per output at fault), ``raised`` (the built-in exception type, from
    :func:`builtin_exception_name`) and ``line`` (the student's line where it was raised, from the grader's copy of
    the cells)."""

    case_id: str
    function: str
    points: float
    max_points: float
    status: str
    message: str
    diagnosis: str | None = None
    problem: str | None = None
    wrong: tuple = ()
    raised: str | None = None
    line: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"


# ---- named test functions for numerical_gradient cases (JSON carries only the name) ----
_FIXED = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
CALLABLES: dict[str, Callable] = {
    "square": lambda x: x * x,
    "sin": np.sin,
    "cube_sum_rows": lambda x: (x ** 3).sum(axis=-1),
    "tanh_scaled": lambda x: np.tanh(2.0 * x) + 0.5 * x,
    "matmul_fixed": lambda x: x @ _FIXED,
    "exp_normalised": lambda x: np.exp(x) / np.exp(x).sum(),
}


# ---- encoding: JSON + one npz of arrays ----
def encode_value(value, arrays: dict):
    """``value`` as JSON-able data; arrays go into ``arrays`` (npz key -> ndarray)."""
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        key = f"a{len(arrays)}"
        arrays[key] = np.asarray(value)
        return {"array": key} if isinstance(value, np.ndarray) else {"scalar": key}
    if callable(value):
        name = next((n for n, f in CALLABLES.items() if f is value), None)
        if name is None:
            raise ValueError(f"callable {value!r} is not in CALLABLES")
        return {"callable": name}
    if isinstance(value, Raises):
        return {"raises": list(value.type_names)}
    if isinstance(value, tuple):
        return {"tuple": [encode_value(v, arrays) for v in value]}
    if isinstance(value, list):
        return [encode_value(v, arrays) for v in value]
    if isinstance(value, dict):
        return {"dict": {str(k): encode_value(v, arrays) for k, v in value.items()}}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot encode a {type(value).__name__}")


def decode_value(obj, arrays):
    """Inverse of :func:`encode_value`; ``arrays`` is a mapping of npz key -> ndarray."""
    if isinstance(obj, list):
        return [decode_value(v, arrays) for v in obj]
    if isinstance(obj, dict):
        (tag, inner), = obj.items()
        if tag == "array":
            return np.array(arrays[inner])
        if tag == "scalar":
            return np.asarray(arrays[inner])[()]
        if tag == "tuple":
            return tuple(decode_value(v, arrays) for v in inner)
        if tag == "dict":
            return {k: decode_value(v, arrays) for k, v in inner.items()}
        if tag == "callable":
            return CALLABLES[inner]
        if tag == "raises":
            return Raises(tuple(inner))
        raise ValueError(f"unknown encoded tag {tag!r}")
    return obj


_ENCODED = ("args", "kwargs", "expected", "diagnoses", "data", "options", "raises", "arg_names", "output_names")


def save_cases(cases, dest_dir, extra: dict | None = None) -> tuple[Path, Path]:
    """Write ``cases`` to dest_dir/public_cases.json + .npz (no pickles, no code: data only)."""
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    arrays: dict = {}
    rows = []
    for case in cases:
        row = {f.name: getattr(case, f.name) for f in fields(Case)}
        for name in _ENCODED:
            row[name] = encode_value(row[name], arrays)
        rows.append(row)
    doc = {"format": FORMAT_VERSION, "cases": rows, **(extra or {})}
    json_path, npz_path = dest / PUBLIC_JSON, dest / PUBLIC_NPZ
    json_path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    with open(npz_path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return json_path, npz_path


def load_cases(directory) -> list[Case]:
    """The cases saved by :func:`save_cases` in ``directory``."""
    directory = Path(directory)
    doc = json.loads((directory / PUBLIC_JSON).read_text(encoding="utf-8"))
    with np.load(directory / PUBLIC_NPZ, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    cases = []
    for row in doc["cases"]:
        for name in _ENCODED:
            row[name] = decode_value(row[name], arrays)
        cases.append(Case(**row))
    return cases


_PUBLIC_CACHE: dict = {}


def load_public_cases(directory=None) -> list[Case]:
    """The frozen public cases beside this module (or in ``directory``), loaded once."""
    directory = Path(directory) if directory is not None else Path(__file__).resolve().parent
    if directory not in _PUBLIC_CACHE:
        _PUBLIC_CACHE[directory] = load_cases(directory)
    return _PUBLIC_CACHE[directory]


def public_cases_for(function_name: str, directory=None) -> list[Case]:
    return [c for c in load_public_cases(directory) if c.function == function_name]


def numpy_version_warning(directory=None, here: str | None = None) -> str | None:
    """A warning naming both versions when this NumPy's major version (``here``, default the running one) differs
    from the one the public cases in ``directory`` were frozen with (the grader's); None when they agree or the
    cases do not say."""
    directory = Path(directory) if directory is not None else Path(__file__).resolve().parent
    try:
        grader = json.loads((directory / PUBLIC_JSON).read_text(encoding="utf-8")).get("numpy")
    except (OSError, ValueError, AttributeError):
        return None
    here = here or np.__version__
    major = str(grader).split(".")[0] if grader else ""
    if not major.isdigit() or here.split(".")[0] == major:
        return None
    return NUMPY_VERSION_MESSAGE.format(here=here, grader=grader, major=int(major), next=int(major) + 1)


# ---- the notebook loader ----
def _is_test_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution", False)


def _strip_magics(source: str) -> str:
    # IPython syntax is not Python: comment it out, keeping the indentation so line numbers stay right.
    out = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")) or "get_ipython()" in stripped:
            line = line[: len(line) - len(stripped)] + "# " + stripped
        out.append(line)
    return "\n".join(out)


def notebook_cells(path) -> list[tuple[int, str]]:
    """``(cell number, source)`` of the code cells a submission defines, magics commented out. ``path`` may also
    be a notebook already parsed by nbformat (the grader reads a submission once, with a cap)."""
    if isinstance(path, dict):
        nb = path
    else:
        import nbformat  # here, not at the top: the sandbox worker loads this module and never reads notebooks

        nb = nbformat.read(str(path), as_version=4)
    cells = []
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code" or _is_test_cell(cell):
            continue
        if DEMO_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        cells.append((number, _strip_magics(cell.source)))
    return cells


_PRELUDE = f"""\
{CELL_ERRORS} = []
try:  # pictures are never shown while checking or grading
    import matplotlib as _mpl
    _mpl.use("Agg")
    import matplotlib.pyplot as _plt
    _plt.show = lambda *args, **kwargs: None
    del _mpl, _plt
except ImportError:
    pass
"""

# The list of cell errors is looked up afresh (a cell may have rebound the name), and an exception whose str()
# fails is still recorded: one cell's error never stops the cells after it from loading.
_CELL = """\
try:
    exec(compile({source!r}, "<cell {number}>", "exec"), globals())
except (Exception, SystemExit) as _convkit_exc:
    if type(globals().get("{errors}")) is not list:
        globals()["{errors}"] = []
    try:
        _convkit_message = str(_convkit_exc)
    except Exception:
        _convkit_message = "(the exception's message could not be shown)"
    globals()["{errors}"].append({{"cell": {number}, "type": type(_convkit_exc).__name__,
                                   "message": _convkit_message}})
    del _convkit_exc, _convkit_message
"""


def notebook_source(path) -> str:
    """One Python source that runs the submission's code cells in order (``path``: a file or a parsed notebook);
    an error in one cell is recorded in ``__convkit_cell_errors__`` and the next cells still run."""
    cells = notebook_cells(path)
    uses_mpl = any("matplotlib" in src for _, src in cells)
    parts = [_PRELUDE if uses_mpl else f"{CELL_ERRORS} = []\n"]
    parts += [_CELL.format(source=src, number=n, errors=CELL_ERRORS) for n, src in cells]
    return "\n".join(parts)


def load_notebook(path) -> dict:
    """Execute the submission's code cells in a fresh namespace and return it (cell errors under
    ``__convkit_cell_errors__``). Tracebacks show the cells' lines."""
    for number, src in notebook_cells(path):
        linecache.cache[f"<cell {number}>"] = (len(src), None, src.splitlines(True), f"<cell {number}>")
    namespace: dict = {"__name__": "__convkit_notebook__"}
    os.environ.setdefault("MPLBACKEND", "Agg")
    exec(compile(notebook_source(path), f"<notebook {Path(path).name}>", "exec"), namespace)
    return namespace


def call_in_namespace(namespace: dict, name: str, args=(), kwargs=None):
    """The rule by which a case calls ``name``: a callable is called; a mapping (``KERNELS``) is indexed by
    ``args[0]``. The sandbox worker uses this same rule."""
    if name not in namespace:
        raise FunctionMissing(name)
    obj = namespace[name]
    if callable(obj):
        return obj(*args, **(kwargs or {}))
    return obj[args[0]]


# ---- describing and comparing values ----
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
    parts = [f"{n} {_short(v)}" for n, v in zip(names, case.args)]
    parts += [f"{k}={_short(v)}" for k, v in case.kwargs.items()]
    return ", ".join(parts) or "no arguments"


def _fmt(x) -> str:
    return f"{x:.6g}" if isinstance(x, (float, np.floating)) else repr(x)


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
        return [_Problem(what, WRONG_SHAPE, SHAPE_MESSAGE.format(what=what, expected=exp.shape, got=arr.shape))]
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
        return found + [_Problem(what, NON_FINITE, NONFINITE_MESSAGE.format(what=what, count=int(bad_finite.sum()),
                                                                            index=index))]
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
    return found + [_Problem(what, WRONG_VALUES, VALUE_MESSAGE.format(
        what=what, count=int((excess > 0).sum()), size=e.size, index=index, got=_fmt(a.flat[flat]),
        expected=_fmt(e.flat[flat]), diff=float(diff.flat[flat]), tol=float(tol.flat[flat])))]


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
        return [p for n, g, e in zip(names, got, expected) for p in _problems(g, e, case, n)]
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            return [_Problem(what, WRONG_TYPE, KEYS_MESSAGE.format(
                what=what, expected=sorted(expected), got=sorted(got) if isinstance(got, dict) else type(got).__name__))]
        return [p for k in expected for p in _problems(got[k], expected[k], case, f"{what}[{k!r}]")]
    return _array_problems(got, expected, what, case)


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


def _diagnose(got, case: Case) -> list[str]:
    """Names of the known mistakes whose answer ``got`` matches (and which differ from the correct answer), in
    any dtype: a wrong dtype is reported on its own, never as a different mistake.
    For tuples, a mistake matches when every output it changes is matched (the others may be wrong too)."""
    found = []
    for name, mistaken in case.diagnoses.items():
        if isinstance(mistaken, Raises) or _matches(mistaken, case.expected, case):
            continue
        if isinstance(mistaken, tuple) and isinstance(got, (tuple, list)) and len(got) == len(mistaken):
            changed = [i for i, (m, e) in enumerate(zip(mistaken, case.expected)) if not _matches(m, e, case)]
            sub = Case(**{**case.__dict__, "output_names": ()})
            if all(_matches(got[i], mistaken[i], sub) for i in changed):
                found.append(name)
        elif _matches(got, mistaken, case):
            found.append(name)
    return found


def _diagnose_exception(type_names, case: Case) -> list[str]:
    """Names of the known mistakes that raise what the student's code raised (``type_names``: its class and bases)."""
    return [name for name, mistaken in case.diagnoses.items()
            if isinstance(mistaken, Raises) and set(mistaken.type_names) & set(type_names)]


def format_student_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` without this module's (and NumPy's) frames: the student's own lines."""
    frames = traceback.extract_tb(exc.__traceback__)
    here, np_dir = str(Path(__file__).resolve()), str(Path(np.__file__).resolve().parent)
    keep = [f for f in frames if f.filename != here and not f.filename.startswith(np_dir)] or frames[-1:]
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


# ---- scorers: cases graded by a measure rather than by one expected array ----
def _score_kernel_response(case: Case, call) -> tuple[float, list[str]]:
    """Response of the student's kernel on edge images (their 3x3 patches are in ``data``): 1/3 of the points
    each for ignoring flat regions, answering diagonal edges more than straight ones, and doing so selectively."""
    kernel = call(case.function, _copy(case.args), _copy(case.kwargs))
    problems = compare(kernel, np.zeros((3, 3), dtype=int), Case(**{**case.__dict__, "kind": "array", "atol": np.inf}), "kernel")
    if problems:
        return 0.0, problems
    k = np.asarray(kernel, dtype=np.float64).ravel()
    resp = {name: float(np.abs(np.asarray(case.data[name]) @ k).max()) for name in ("diagonal", "straight", "flat")}
    opt = case.options
    norm = float(np.linalg.norm(k))
    if norm == 0 or resp["diagonal"] < opt["min_diagonal"] * norm * opt["contrast"]:
        return 0.0, [SCORE_MESSAGE.format(what="kernel", detail=(
            f"its strongest response to a diagonal edge is {resp['diagonal']:.3g}: too weak for a kernel of "
            f"norm {norm:.3g} (it must be at least {opt['min_diagonal']} x norm x edge contrast)"))]
    tests = [
        (resp["flat"] <= opt["flat_ratio"] * resp["diagonal"],
         f"flat regions: response {resp['flat']:.3g}, at most {opt['flat_ratio']} x the diagonal response "
         f"{resp['diagonal']:.3g} (make the weights sum to 0)"),
        (resp["diagonal"] > resp["straight"],
         f"diagonal vs straight edges: {resp['diagonal']:.3g} must exceed {resp['straight']:.3g}"),
        (resp["straight"] <= opt["straight_ratio"] * resp["diagonal"],
         f"selectivity: the response to horizontal/vertical edges {resp['straight']:.3g} must be at most "
         f"{opt['straight_ratio']} x the diagonal response {resp['diagonal']:.3g}"),
    ]
    weights = opt.get("weights") or [case.points / len(tests)] * len(tests)
    return (float(sum(w for w, (ok, _) in zip(weights, tests) if ok)),
            [SCORE_MESSAGE.format(what="kernel", detail=d) for ok, d in tests if not ok])


def _score_accuracy(case: Case, call) -> tuple[float, list[str]]:
    """Train with the student's ``train_cnn``, predict the held-out digits with their ``predict``, score the
    accuracy by the thresholds of ``options`` (a list of [min accuracy, fraction of the points])."""
    params = call(case.function, _copy(case.args), _copy(case.kwargs))
    if isinstance(params, tuple) and params and isinstance(params[0], dict):
        params = params[0]  # train_cnn may return (params, history)
    if params is None:
        return 0.0, [NONE_MESSAGE.format(function=case.function)]
    labels = np.asarray(case.data["y"])
    predicted = call(case.options.get("predict", "predict"), (params, case.data["x"]), {})
    if predicted is None:
        return 0.0, [NONE_MESSAGE.format(function="predict")]
    pred = np.asarray(predicted)
    if pred.shape != labels.shape:
        return 0.0, [SHAPE_MESSAGE.format(what="predict(params, x)", expected=labels.shape, got=pred.shape)]
    accuracy = float(np.mean(pred == labels))
    fraction = max([f for threshold, f in case.options["thresholds"] if accuracy >= threshold], default=0.0)
    need = max(t for t, _ in case.options["thresholds"])
    detail = [] if fraction == 1.0 else [SCORE_MESSAGE.format(what="accuracy", detail=(
        f"{accuracy:.3f} on {labels.size} held-out digits; full points from {need:.2f}"))]
    return case.points * fraction, detail


SCORERS = {"kernel_response": _score_kernel_response, "accuracy": _score_accuracy}


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


def run_case(case: Case, call, cells=None) -> CaseResult:
    """Run ``case`` through ``call(name, args, kwargs)`` and grade the answer (never raises for student errors).
    ``cells``: cell number -> source of the submission, to name the student's line where the function raised."""
    header = CASE_HEADER.format(case_id=case.case_id, function=case.function, inputs=describe_inputs(case))

    def result(status, points, lines, problem=None, diagnosis=None, **found):
        return CaseResult(case.case_id, case.function, float(points), float(case.points), status,
                          "\n".join([header, *lines]), diagnosis, problem, **found)

    try:
        if case.kind in SCORERS:  # a scorer returns (points, lines) or (points, lines, diagnosis)
            points, lines, *diagnosis = SCORERS[case.kind](case, call)
            if points == case.points:
                return result("passed", points, lines)
            return result("failed", points, lines, LOW_SCORE, *diagnosis)
        got = call(case.function, _copy(case.args), _copy(case.kwargs))
    except CallTimeout:
        return result("timeout", 0, [TIMEOUT_MESSAGE.format(function=case.function)], TIMED_OUT)
    except FunctionMissing as exc:
        name = exc.args[0] if exc.args else case.function
        return result("missing", 0, [MISSING_MESSAGE.format(function=name)], NOT_DEFINED)
    except Exception as exc:
        names, message, tb = _exception_info(exc)
        if "NotImplementedError" in names:
            return result("stub", 0, [STUB_MESSAGE.format(function=case.function)], IS_STUB)
        if case.kind == "raises" and set(names) & set(case.raises):
            return result("passed", case.points, [])
        # A remote exception's line is read from the grader's cells only, never from this process's linecache.
        where = cells if cells is not None or not isinstance(exc, StudentException) else {}
        found = {"raised": builtin_exception_name(names), "line": student_line(_frames(exc), where)}
        if case.kind == "raises":
            return result("failed", 0, [WRONG_EXCEPTION_MESSAGE.format(
                function=case.function, expected=" or ".join(case.raises), type=names[0], message=message), tb],
                WRONG_EXCEPTION, **found)
        diagnosed = _diagnose_exception(names, case)
        return result("error", 0, [EXCEPTION_MESSAGE.format(function=case.function, type=names[0], message=message),
                                   tb.rstrip(), *_diagnosis_lines(diagnosed, case)], RAISED,
                      ", ".join(diagnosed) or None, **found)
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
        return result("dtype", points, lines, WRONG_DTYPE, ", ".join(names) or None, wrong=wrong)
    return result("failed", 0, lines, worst, ", ".join(names) or None, wrong=wrong)


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
    elif problem in HIDDEN_PROBLEM_MESSAGES:
        lines.append(HIDDEN_PROBLEM_MESSAGES[problem].format(**fields)
                     + (" " + result.line if result.line and problem in (RAISED, WRONG_EXCEPTION) else ""))
    names = [n for n in (result.diagnosis or "").split(", ") if n]
    lines += [DIAGNOSIS_MESSAGE.format(name=n, explanation=case.explanations.get(n, "")) for n in names]
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

    def confirmed(c: Case) -> bool:
        if (c.function, c.case_id) in twins:
            return bool(twins[(c.function, c.case_id)])
        return c.function not in hidden_fns or c.function in passes_hidden

    def unconfirmed(c: Case, r: CaseResult) -> CaseResult:
        if c.function in stub_only:
            return replace(r, points=0.0, status="stub", diagnosis=None, problem=IS_STUB,
                           message=r.message + "\n" + PROVIDED_CHECK_MESSAGE.format(function=r.function))
        template = UNCONFIRMED_CHECK_MESSAGE if c.kind == "raises" else UNCONFIRMED_MESSAGE
        return replace(r, points=0.0, status="unconfirmed", diagnosis=None, problem=UNCONFIRMED,
                       message=r.message + "\n" + template.format(function=r.function))

    out = [unconfirmed(c, r) if r.points and c.kind != "raises" and c.visibility == "visible" and not confirmed(c)
           else r for c, r in zip(cases, results, strict=True)]
    works = {c.function for c, r in zip(cases, out) if c.kind != "raises" and r.points > 0}
    return [unconfirmed(c, r) if r.points and c.kind == "raises" and c.function not in works else r
            for c, r in zip(cases, out)]


def check(function_name: str, func, *, verbose: bool = True, directory=None, namespace: dict | None = None):
    """Run the public cases of ``function_name`` on ``func`` and print a report; AssertionError if any fails.

    Other names a case calls (``predict`` for the accuracy case) are looked up in ``namespace``, by default the
    caller's globals (the notebook)."""
    cases = public_cases_for(function_name, directory)
    if not cases:
        raise LookupError(NO_CASES_MESSAGE.format(function=function_name, path=directory or Path(__file__).parent))
    others = namespace if namespace is not None else sys._getframe(1).f_globals

    def call(name, args, kwargs):
        if name == function_name:
            return call_in_namespace({name: func}, name, args, kwargs)
        return call_in_namespace(others, name, args, kwargs)

    results = credit(cases, [run_case(case, call) for case in cases])
    passed = sum(r.passed for r in results)
    warning = numpy_version_warning(directory)
    if verbose and warning:
        print(warning)
    if verbose:
        for r in results:
            mark = "passed" if r.passed else r.status.upper()
            print(f"[{mark}] {r.message}" if not r.passed else f"[passed] case {r.case_id}")
        print(SUMMARY_MESSAGE.format(passed=passed, total=len(results)))
    if passed != len(results):
        first = next(r for r in results if not r.passed)
        if first.status == "stub":
            raise AssertionError(STUB_MESSAGE.format(function=function_name))
        raise AssertionError(f"{len(results) - passed} of {len(results)} public cases of {function_name} failed; "
                             f"first: {first.message}")
    # Nothing is returned: the check cell's last value would be displayed under the report (and stock nbgrader
    # would try to read it as a partial-credit score).
