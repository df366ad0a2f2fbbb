"""A graded case as data, its outcome, and the case files: the public cases frozen into ``public_cases.json`` +
``public_cases.npz`` beside the package (values in the one encoding of :mod:`.codec`; no pickles, no code)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .codec import Caps, CodecError, decode, encode
from .messages import CASE_FORMAT_MESSAGE, NO_CASE_MESSAGE, NUMPY_VERSION_MESSAGE

# ---- tolerances (the suites copy them into each case; a case may tighten or loosen them) ----
RTOL_FLOAT64, ATOL_FLOAT64 = 1e-7, 1e-9
RTOL_FLOAT32, ATOL_FLOAT32 = 1e-4, 1e-5
PUBLIC_JSON, PUBLIC_NPZ = "public_cases.json", "public_cases.npz"
# 2: values in the codec's encoding (the sandbox's), arrays "a<i>" of the npz by index; 1 had tags of its own.
FORMAT_VERSION = 2
# Caps for a case file: far above what the kit's public cases hold (a few hundred small arrays).
CASE_CAPS = Caps(array_bytes=256 << 20, max_blobs=1 << 16)
# The release folder: the case files lie beside the package.
RELEASE_DIR = Path(__file__).resolve().parents[1]
# messages.STATUSES as a type (a test keeps the two equal): what the grader found on one case.
Status = Literal["passed", "dtype", "failed", "error", "stub", "timeout", "missing", "unconfirmed"]


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
    """One graded case's outcome. ``message``: the full report (public cases). The rest is what the grader computed
    itself, safe to show on a hidden case: ``diagnoses`` (the names of the known mistakes the answer matches, in the
    case's order), ``problem`` (one of :data:`PROBLEMS`), ``wrong`` ((output name, problem,
    returned dtype name) per output at fault), ``raised`` (the built-in exception type, from
    :func:`builtin_exception_name`), ``line`` (the student's line where it was raised, from the grader's copy of
    the cells) and ``stub`` (on a stub, the other graded function whose stub raised, one of the grader's names)."""

    case_id: str
    function: str
    points: float
    max_points: float
    status: Status
    message: str
    diagnoses: tuple[str, ...] = ()
    problem: str | None = None
    wrong: tuple = ()
    raised: str | None = None
    line: str | None = None
    stub: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"




_ENCODED = ("args", "kwargs", "expected", "diagnoses", "data", "options", "raises", "arg_names", "output_names")


def save_cases(cases, dest_dir, extra: dict | None = None) -> tuple[Path, Path]:
    """Write ``cases`` to dest_dir/public_cases.json + .npz (no pickles, no code: data only)."""
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    # One value for all cases: its arrays are numbered across the file, each used once.
    tree, arrays = encode([{name: getattr(case, name) for name in _ENCODED} for case in cases], CASE_CAPS,
                          named=True)
    rows = [{**{f.name: getattr(case, f.name) for f in fields(Case)}, **encoded["$dict"]}
            for case, encoded in zip(cases, tree, strict=True)]
    doc = {"format": FORMAT_VERSION, "cases": rows, **(extra or {})}
    json_path, npz_path = dest / PUBLIC_JSON, dest / PUBLIC_NPZ
    json_path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    with open(npz_path, "wb") as fh:
        np.savez_compressed(fh, **{f"a{i}": a for i, a in enumerate(arrays)})
    return json_path, npz_path


def load_cases(directory) -> list[Case]:
    """The cases saved by :func:`save_cases` in ``directory`` (ValueError naming the file if it is not such)."""
    directory = Path(directory)
    doc = json.loads((directory / PUBLIC_JSON).read_text(encoding="utf-8"))
    found = doc.get("format") if isinstance(doc, dict) else None
    if found != FORMAT_VERSION or not isinstance(doc.get("cases"), list):
        raise ValueError(CASE_FORMAT_MESSAGE.format(path=directory / PUBLIC_JSON, found=found,
                                                    expected=FORMAT_VERSION))
    with np.load(directory / PUBLIC_NPZ, allow_pickle=False) as npz:
        if set(npz.files) != {f"a{i}" for i in range(len(npz.files))}:
            raise ValueError(f"{directory / PUBLIC_NPZ} holds arrays other than a0, a1, ...")
        arrays = [npz[f"a{i}"] for i in range(len(npz.files))]
    rows = [dict(row) for row in doc["cases"]]
    try:
        values = decode([{"$dict": {name: row[name] for name in _ENCODED}} for row in rows], arrays, CASE_CAPS,
                        named=True)
    except (CodecError, KeyError, TypeError) as exc:
        raise ValueError(f"{directory / PUBLIC_JSON} holds a case that cannot be read: {exc}") from None
    return [Case(**{**row, **value}) for row, value in zip(rows, values, strict=True)]


_PUBLIC_CACHE: dict = {}


def load_public_cases(directory=None) -> list[Case]:
    """The frozen public cases beside the package (or in ``directory``), loaded once."""
    directory = Path(directory) if directory is not None else RELEASE_DIR
    if directory not in _PUBLIC_CACHE:
        _PUBLIC_CACHE[directory] = load_cases(directory)
    return _PUBLIC_CACHE[directory]


def public_cases_for(function_name: str, directory=None) -> list[Case]:
    return [c for c in load_public_cases(directory) if c.function == function_name]


def load_case(function_name: str, case_id: str, directory=None) -> Case:
    """One public case, to rerun it by hand in the notebook: ``case = load_case("correlate2d", "sharpen-pad1")``,
    then ``correlate2d(*case.args, **case.kwargs)`` against ``case.expected``. LookupError names the known ids."""
    cases = public_cases_for(function_name, directory)
    for case in cases:
        if case.case_id == case_id:
            return case
    raise LookupError(NO_CASE_MESSAGE.format(case_id=case_id, function=function_name,
                                             path=directory or RELEASE_DIR,
                                             known=", ".join(c.case_id for c in cases) or "none"))


def numpy_version_warning(directory=None, here: str | None = None) -> str | None:
    """A warning naming both versions when this NumPy's major version (``here``, default the running one) differs
    from the one the public cases in ``directory`` were frozen with (the grader's); None when they agree or the
    cases do not say."""
    directory = Path(directory) if directory is not None else RELEASE_DIR
    try:
        grader = json.loads((directory / PUBLIC_JSON).read_text(encoding="utf-8")).get("numpy")
    except (OSError, ValueError, AttributeError):
        return None
    here = here or np.__version__
    major = str(grader).split(".")[0] if grader else ""
    if not major.isdigit() or here.split(".")[0] == major:
        return None
    return NUMPY_VERSION_MESSAGE.format(here=here, grader=grader, major=int(major), next=int(major) + 1)
