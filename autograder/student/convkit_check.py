"""convkit's case runner: the one piece of comparison code that the student's self-check and the grader share.

Shipped into every release folder beside the notebook, so it imports only NumPy, nbformat and the standard library.

* ``check("correlate2d", correlate2d)`` -- run the public cases of one function in the notebook and print a report.
* ``load_notebook(path)`` / ``notebook_source(path)`` -- the code a submission defines (solution and setup cells;
  nbgrader test cells and cells tagged ``convkit-demo`` are skipped, IPython magics are commented out).
* ``run_case(case, call)`` -- one graded case -> :class:`CaseResult`. ``call(name, args, kwargs)`` runs the student's
  function, in-process here or through the grader's sandbox proxy, which reports a remote failure by raising
  :class:`StudentException`, :class:`CallTimeout` or :class:`FunctionMissing`.
* Public cases live in ``public_cases.json`` + ``public_cases.npz`` next to this file (see ``encode_value``).
"""
from __future__ import annotations

import json
import linecache
import numbers
import os
import sys
import traceback
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = [
    "Case", "CaseResult", "StudentException", "CallTimeout", "FunctionMissing", "CALLABLES", "SCORERS",
    "check", "run_case", "call_in_namespace", "notebook_source", "notebook_cells", "load_notebook",
    "encode_value", "decode_value", "save_cases", "load_cases", "load_public_cases", "public_cases_for",
    "format_student_traceback", "describe_inputs", "compare", "credit_input_checks",
    "STUB_MESSAGE", "NONE_MESSAGE", "MISSING_MESSAGE", "SUMMARY_MESSAGE", "DIAGNOSIS_MESSAGE",
]

# ---- tolerances (the suites copy them into each case; a case may tighten or loosen them) ----
RTOL_FLOAT64, ATOL_FLOAT64 = 1e-7, 1e-9
RTOL_FLOAT32, ATOL_FLOAT32 = 1e-4, 1e-5
STATUSES = ("passed", "failed", "error", "stub", "timeout", "missing")
PUBLIC_JSON, PUBLIC_NPZ = "public_cases.json", "public_cases.npz"
FORMAT_VERSION = 1
DEMO_TAG = "convkit-demo"
CELL_ERRORS = "__convkit_cell_errors__"
_MAX_TRACEBACK_FRAMES = 6

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
SUMMARY_MESSAGE = "{passed} of {total} public cases passed — hidden cases are graded too"
NO_CASES_MESSAGE = "no public cases for {function} in {path}"
SCORE_MESSAGE = "{what}: {detail}"


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


@dataclass
class CaseResult:
    case_id: str
    function: str
    points: float
    max_points: float
    status: str
    message: str
    diagnosis: str | None = None

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
    """``(cell number, source)`` of the code cells a submission defines, magics commented out."""
    import nbformat  # here, not at the top: the grader's sandbox worker loads this module and never reads notebooks

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

_CELL = """\
try:
    exec(compile({source!r}, "<cell {number}>", "exec"), globals())
except (Exception, SystemExit) as _convkit_exc:
    {errors}.append({{"cell": {number}, "type": type(_convkit_exc).__name__, "message": str(_convkit_exc)}})
    del _convkit_exc
"""


def notebook_source(path) -> str:
    """One Python source that runs the submission's code cells in order; an error in one cell is recorded in
    ``__convkit_cell_errors__`` and the next cells still run."""
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


def _compare_array(got, expected, what, case) -> str | None:
    exp = np.asarray(expected)
    if got is None:
        return TYPE_MESSAGE.format(what=what, expected="an array", got="None")
    if not isinstance(got, (np.ndarray, np.generic, numbers.Number, list, tuple)) or isinstance(got, (bool, str)):
        return TYPE_MESSAGE.format(what=what, expected=f"an array of shape {exp.shape}", got=type(got).__name__)
    try:
        arr = np.asarray(got)
    except Exception:  # ragged lists and the like
        return TYPE_MESSAGE.format(what=what, expected=f"an array of shape {exp.shape}", got=type(got).__name__)
    if arr.dtype.kind not in "biuf":
        return TYPE_MESSAGE.format(what=what, expected="real numbers", got=f"dtype {arr.dtype}")
    if arr.shape != exp.shape:
        return SHAPE_MESSAGE.format(what=what, expected=exp.shape, got=arr.shape)
    if exp.dtype.kind == "f" and arr.dtype.kind != "f":
        return DTYPE_KIND_MESSAGE.format(what=what, got=arr.dtype)
    if case.dtype and arr.dtype != np.dtype(case.dtype):
        return DTYPE_MESSAGE.format(what=what, expected=case.dtype, got=arr.dtype)
    a, e = arr.astype(np.float64), exp.astype(np.float64)
    bad_finite = ~np.isfinite(a) & np.isfinite(e)
    if bad_finite.any():
        index = tuple(int(i) for i in np.argwhere(bad_finite)[0])
        return NONFINITE_MESSAGE.format(what=what, count=int(bad_finite.sum()), index=index)
    with np.errstate(invalid="ignore"):
        tol = np.where(np.isfinite(e), case.atol + case.rtol * np.abs(e), 0.0)
    with np.errstate(invalid="ignore"):
        same = (a == e) | (np.isnan(a) & np.isnan(e))  # nan where nan is expected: a diagnosis of overflow
        diff = np.where(np.isfinite(e), np.abs(a - e), np.where(same, 0.0, np.inf))
    excess = diff - tol
    if not (excess > 0).any():
        return None
    flat = int(np.argmax(excess))
    index = tuple(int(i) for i in np.unravel_index(flat, e.shape)) if e.ndim else ()
    return VALUE_MESSAGE.format(what=what, count=int((excess > 0).sum()), size=e.size, index=index,
                                got=_fmt(a.flat[flat]), expected=_fmt(e.flat[flat]), diff=float(diff.flat[flat]),
                                tol=float(tol.flat[flat]))


def compare(got, expected, case: Case, what: str = "result") -> list[str]:
    """Every way ``got`` differs from ``expected`` (empty when it matches within the case's tolerance);
    tuples, lists and dicts are compared element by element, named by ``case.output_names``."""
    if case.kind == "exact":
        ok = type(got) is type(expected) or (isinstance(got, numbers.Integral) and isinstance(expected, int)
                                             and not isinstance(got, bool))
        if isinstance(expected, tuple) and isinstance(got, (tuple, list)):
            ok = len(got) == len(expected) and all(
                isinstance(g, numbers.Integral) and not isinstance(g, bool) for g in got)
            got = tuple(int(g) for g in got) if ok else got
        return [] if ok and got == expected else [EXACT_MESSAGE.format(what=what, expected=expected, got=got)]
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return [TYPE_MESSAGE.format(what=what, expected=f"a tuple of {len(expected)} values",
                                        got=_short(got) if isinstance(got, (tuple, list)) else type(got).__name__)]
        names = list(case.output_names) or [f"{what}[{i}]" for i in range(len(expected))]
        return [m for n, g, e in zip(names, got, expected) for m in compare(g, e, case, n)]
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            return [KEYS_MESSAGE.format(what=what, expected=sorted(expected),
                                        got=sorted(got) if isinstance(got, dict) else type(got).__name__)]
        return [m for k in expected for m in compare(got[k], expected[k], case, f"{what}[{k!r}]")]
    message = _compare_array(got, expected, what, case)
    return [message] if message else []


def _matches(got, value, case: Case) -> bool:
    try:
        return not compare(got, value, case)
    except Exception:
        return False


def _diagnose(got, case: Case) -> list[str]:
    """Names of the known mistakes whose answer ``got`` matches (and which differ from the correct answer).
    For tuples, a mistake matches when every output it changes is matched (the others may be wrong too)."""
    found = []
    case = Case(**{**case.__dict__, "dtype": None})  # a wrong dtype is reported on its own, not a different mistake
    for name, mistaken in case.diagnoses.items():
        if _matches(mistaken, case.expected, case):
            continue
        if isinstance(mistaken, tuple) and isinstance(got, (tuple, list)) and len(got) == len(mistaken):
            changed = [i for i, (m, e) in enumerate(zip(mistaken, case.expected)) if not _matches(m, e, case)]
            sub = Case(**{**case.__dict__, "output_names": ()})
            if all(_matches(got[i], mistaken[i], sub) for i in changed):
                found.append(name)
        elif _matches(got, mistaken, case):
            found.append(name)
    return found


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


def run_case(case: Case, call) -> CaseResult:
    """Run ``case`` through ``call(name, args, kwargs)`` and grade the answer (never raises for student errors)."""
    header = CASE_HEADER.format(case_id=case.case_id, function=case.function, inputs=describe_inputs(case))

    def result(status, points, lines, diagnosis=None):
        return CaseResult(case.case_id, case.function, float(points), float(case.points), status,
                          "\n".join([header, *lines]), diagnosis)

    try:
        if case.kind in SCORERS:
            points, lines = SCORERS[case.kind](case, call)
            return result("passed" if points == case.points else "failed", points, lines)
        got = call(case.function, _copy(case.args), _copy(case.kwargs))
    except CallTimeout:
        return result("timeout", 0, [TIMEOUT_MESSAGE.format(function=case.function)])
    except FunctionMissing as exc:
        return result("missing", 0, [MISSING_MESSAGE.format(function=exc.args[0] if exc.args else case.function)])
    except Exception as exc:
        names, message, tb = _exception_info(exc)
        if "NotImplementedError" in names:
            return result("stub", 0, [STUB_MESSAGE.format(function=case.function)])
        if case.kind == "raises" and set(names) & set(case.raises):
            return result("passed", case.points, [])
        if case.kind == "raises":
            return result("failed", 0, [WRONG_EXCEPTION_MESSAGE.format(
                function=case.function, expected=" or ".join(case.raises), type=names[0], message=message), tb])
        return result("error", 0, [EXCEPTION_MESSAGE.format(function=case.function, type=names[0],
                                                            message=message), tb.rstrip()])
    if case.kind == "raises":
        return result("failed", 0, [RAISES_MESSAGE.format(function=case.function, expected=" or ".join(case.raises),
                                                          got=_short(got) if got is not None else "None")])
    if got is None and case.expected is not None:
        return result("failed", 0, [NONE_MESSAGE.format(function=case.function)])
    problems = compare(got, case.expected, case)
    if not problems:
        return result("passed", case.points, [])
    names = _diagnose(got, case)
    lines = problems + [DIAGNOSIS_MESSAGE.format(name=n, explanation=case.explanations.get(n, "")) for n in names]
    return result("failed", 0, lines, ", ".join(names) or None)


def credit_input_checks(cases: list[Case], results: list[CaseResult]) -> list[CaseResult]:
    """The scoring rule for "raises" cases: a stub keeps the input checks its cell provides, so a function whose
    every other case is a stub earns nothing for rejecting bad input (no free points for provided code)."""
    stub_only = {c.function for c in cases}
    for c, r in zip(cases, results):
        if c.kind != "raises" and r.status != "stub":
            stub_only.discard(c.function)
    out = []
    for c, r in zip(cases, results):
        if c.kind == "raises" and c.function in stub_only and r.points:
            r = CaseResult(r.case_id, r.function, 0.0, r.max_points, "stub",
                           r.message + "\n" + PROVIDED_CHECK_MESSAGE.format(function=r.function), None)
        out.append(r)
    return out


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

    results = credit_input_checks(cases, [run_case(case, call) for case in cases])
    passed = sum(r.passed for r in results)
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
