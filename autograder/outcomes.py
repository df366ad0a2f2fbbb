"""Typed results (:class:`Result`, :class:`CaseOutcome`, :data:`Status`) and the one codec of their JSON form,
Gradescope's results.json schema (what ``DIR/results/<assignment>/<student>.json`` and Gradescope's own
``results.json`` hold; autograder.results writes and reads the files).

:meth:`Result.to_json` writes the schema; :meth:`Result.from_json` reads it back, validating every field (a results
folder may hold a file someone planted): a field of the wrong type is counted as nothing and named in
``problems``, every text is made safe (autograder.safe_text), and what a file cannot show twice is not believed.
Reading back what the grader wrote gives the same Result. Nothing else in the kit looks inside the JSON.
"""
from __future__ import annotations

import builtins
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard, get_args

from autograder.safe_text import (LINE_CAP, MISSING_FIELD, NOT_A_LIST, NOT_A_NUMBER, NOT_A_RESULT, NOT_AN_OBJECT,
                                  hide_paths, safe_line, safe_number, safe_text)

__all__ = ["Status", "Visibility", "CaseOutcome", "CellError", "SandboxLoad", "LoadReport", "Result",
           "diagnoses_of", "claims", "RESULT_TEXT_CAP", "GRADESCOPE_HIDDEN"]

# convkit_check.STATUSES, as a type (a test keeps the two equal): what the grader found on one case.
Status = Literal["passed", "dtype", "failed", "error", "stub", "timeout", "missing", "unconfirmed"]
# A case's visibility, as the suites spell it (convkit_check.Case.visibility); in the JSON a hidden case is
# Gradescope's "after_published" (the student sees its row, never its inputs, once grades are published).
Visibility = Literal["visible", "hidden"]
GRADESCOPE_HIDDEN = "after_published"
# Characters of any one text of a result (a case's output, a load error): the grader's cap, so reading back what it
# wrote loses nothing.
RESULT_TEXT_CAP = 20_000
_SHA256 = re.compile(r"[0-9a-f]{64}")
_MAX_NAMES, _MAX_CELL_ERRORS, _MAX_ENTRIES = 10_000, 100, 50


def _is_status(value) -> TypeGuard[Status]:
    return value in get_args(Status)


def diagnoses_of(text: str | None) -> tuple[str, ...]:
    """The mistake names in the JSON's ``"diagnosis"`` (:meth:`CaseOutcome.to_json` joins them; read back here)."""
    return tuple(n for n in (d.strip() for d in (text or "").split(",")) if n)


@dataclass(frozen=True)
class CaseOutcome:
    """One graded case. ``status``: the grader's verdict (Gradescope's passed/failed is ``passed``); ``output``:
    what the student may read (for a hidden case only what the grader computed, convkit_check.hidden_output);
    ``diagnoses``: the names of the known mistakes the answer matches; ``problem``: one of convkit_check.PROBLEMS."""

    function: str
    case_id: str
    score: float
    max_score: float
    status: Status
    output: str = ""
    visibility: Visibility = "hidden"
    diagnoses: tuple[str, ...] = ()
    problem: str | None = None
    name: str = ""  # f"{function} [{case_id}]" unless given

    def __post_init__(self):
        if not self.name:
            object.__setattr__(self, "name", f"{self.function} [{self.case_id}]")

    @property
    def hidden(self) -> bool:
        return self.visibility != "visible"

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_json(self) -> dict:
        return {"name": self.name, "score": self.score, "max_score": self.max_score,
                "status": "passed" if self.passed else "failed", "output": self.output,
                "visibility": GRADESCOPE_HIDDEN if self.hidden else "visible",
                "extra_data": {"function": self.function, "case": self.case_id, "kind": self.status,
                               "diagnosis": ", ".join(self.diagnoses) or None, "problem": self.problem,
                               "hidden": self.hidden}}


@dataclass(frozen=True)
class CellError:
    """A notebook cell that raised when the worker loaded the notebook (``cell``: its number, or "?")."""

    cell: int | str
    type_name: str
    message: str


@dataclass(frozen=True)
class SandboxLoad:
    """What the sandbox reported on loading the notebook (autograder.sandbox.Sandbox.load_report)."""

    error_type: str | None = None
    names: tuple[str, ...] = ()
    callables: tuple[str, ...] = ()
    stdout: str = ""
    stderr: str = ""
    crashed: bool = False
    timed_out: bool = False


@dataclass(frozen=True)
class LoadReport:
    """How loading the notebook went; ``sandbox`` is None when it was refused before any sandbox ran it."""

    ok: bool
    error: str | None = None
    cell_errors: tuple[CellError, ...] = ()
    sandbox: SandboxLoad | None = None

    def to_json(self) -> dict:
        out: dict[str, Any] = {"ok": self.ok, "error": self.error}
        if self.sandbox is not None:
            s = self.sandbox
            out.update(error_type=s.error_type, names=list(s.names), callables=list(s.callables), stdout=s.stdout,
                       stderr=s.stderr, crashed=s.crashed, timed_out=s.timed_out)
        if self.ok:
            out["cell_errors"] = [{"cell": e.cell, "type": e.type_name, "message": e.message} for e in self.cell_errors]
        return out


@dataclass(frozen=True)
class Result:
    """One student's graded submission. ``student`` and ``assignment`` are where its file lies; ``cell_scores``:
    points per nbgrader grade cell (what the gradebook records); ``recorded``: whether the gradebook holds them
    (None until grade.py tried); ``flags``: integrity findings; ``problems``: what was malformed in the file read."""

    student: str
    assignment: str
    score: float
    max_score: float
    tests: tuple[CaseOutcome, ...] = ()
    output: str = ""
    execution_time: float = 0.0
    notebook: str | None = None
    submission_sha256: str | None = None
    grader: str = ""
    timestamp: str | None = None
    timestamp_refused: str | None = None
    load: LoadReport = LoadReport(ok=True)
    cell_scores: dict[str, float] = field(default_factory=dict)
    sandbox_layers: tuple[str, ...] = ()
    sandbox_missing: dict[str, str] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    recorded: bool | None = None
    problems: tuple[str, ...] = ()
    worker: str = ""  # which grading process graded it (host, and Dask worker when on a cluster): its layers' owner

    @property
    def timed_out(self) -> bool:
        return any(t.status == "timeout" for t in self.tests)

    def to_json(self) -> dict:
        """The Gradescope results.json dict (``extra_data`` holds what Gradescope has no field for)."""
        extra = {"student": self.student, "assignment": self.assignment, "notebook": self.notebook,
                 "submission_sha256": self.submission_sha256, "grader": self.grader, "timestamp": self.timestamp,
                 "timestamp_refused": self.timestamp_refused, "load": self.load.to_json(),
                 "cell_scores": dict(self.cell_scores), "sandbox_layers": list(self.sandbox_layers),
                 "sandbox_missing": dict(self.sandbox_missing), "timed_out": self.timed_out,
                 "flags": list(self.flags)}
        if self.recorded is not None:
            extra["recorded"] = self.recorded
        if self.problems:
            extra["problems"] = list(self.problems)
        if self.worker:
            extra["worker"] = self.worker
        return {"score": self.score, "max_score": self.max_score, "execution_time": self.execution_time,
                "output": self.output, "visibility": "visible", "tests": [t.to_json() for t in self.tests],
                "extra_data": extra}

    @classmethod
    def from_json(cls, raw, student: str, assignment: str, *, roots=None) -> Result:
        """The result in ``raw`` (a parsed result file, any content) with every field of its type and every text
        safe (safe_text; with ``roots``, also hide_paths, for a page a student reads). ``student`` and
        ``assignment`` are where the file lies, whatever it claims; ``problems`` lists what was malformed (after
        the file's own). Raises ``ValueError`` when ``raw`` is not a JSON object. Never awards what the file does
        not show twice: a case is passed only when both of its marks say so, visible only when both say so."""
        if not isinstance(raw, dict):
            raise ValueError(NOT_A_RESULT.format(got=type(raw).__name__))
        return _Reader(roots).result(raw, student, assignment)


def claims(raw) -> dict:
    """What a parsed result file says of itself (its ``extra_data``, unchecked: {} when it is no object), for the
    two questions asked of a file before reading it: whose is it, and is it current (autograder.results)."""
    extra = raw.get("extra_data") if isinstance(raw, dict) else None
    return extra if isinstance(extra, dict) else {}


def _name_only(value) -> str | None:
    """A file name without its folders (a notebook's path would show the instructor's machine)."""
    return re.split(r"[\\/]", safe_line(value))[-1] or None


class _Reader:
    """The conversions of one result file (Result.from_json), recording what was malformed."""

    def __init__(self, roots):
        self.roots = roots
        self.problems: list[str] = []

    def text(self, value, cap=RESULT_TEXT_CAP) -> str:
        text = safe_text(value, cap)
        return hide_paths(text, self.roots) if self.roots is not None else text

    def line(self, value, cap=LINE_CAP) -> str:
        return re.sub("[\t\n\r]+", " ", self.text(value, cap))

    def number(self, value, what: str) -> float:
        number = safe_number(value, default=math.nan)
        if math.isnan(number):
            self.problems.append(NOT_A_NUMBER.format(field=what, got=type(value).__name__))
            return 0.0
        return number

    def dict(self, value, what: str) -> builtins.dict[str, Any]:
        if value is None or isinstance(value, dict):
            return value or {}
        self.problems.append(NOT_AN_OBJECT.format(field=what, got=type(value).__name__))
        return {}

    def list(self, value, what: str) -> builtins.list[Any]:
        if value is None or isinstance(value, list):
            return value or []
        self.problems.append(NOT_A_LIST.format(field=what, got=type(value).__name__))
        return []

    def lines(self, value, what: str, cap: int, count: int = _MAX_ENTRIES) -> tuple[str, ...]:
        return tuple(self.line(x, cap) for x in self.list(value, what)[:count])

    def case(self, raw, i: int) -> CaseOutcome | None:
        from autograder.student.convkit_check import PROBLEMS

        if not isinstance(raw, dict):
            self.problems.append(NOT_AN_OBJECT.format(field=f"tests[{i}]", got=type(raw).__name__))
            return None
        extra = self.dict(raw.get("extra_data"), f"tests[{i}].extra_data")
        function, case_id = self.line(extra.get("function")), self.line(extra.get("case"))
        marked: Status = "passed" if raw.get("status") == "passed" else "failed"
        kind = extra.get("kind")
        status = kind if _is_status(kind) else marked
        if status == "passed" and marked != "passed":  # the two marks disagree: not passed
            status = "failed"
        diagnosis = self.line(extra.get("diagnosis"), 1000) if extra.get("diagnosis") else None
        problem = extra.get("problem")
        # hidden unless both marks say visible: a doubt never shows a hidden case
        visible = raw.get("visibility") == "visible" and not extra.get("hidden")
        return CaseOutcome(function, case_id, self.number(raw.get("score"), f"tests[{i}].score"),
                           self.number(raw.get("max_score"), f"tests[{i}].max_score"), status,
                           self.text(raw.get("output")), "visible" if visible else "hidden",
                           diagnoses_of(diagnosis),
                           problem if isinstance(problem, str) and problem in PROBLEMS else None,
                           self.line(raw.get("name")) or "")

    def load(self, raw) -> LoadReport:
        load = self.dict(raw, "extra_data.load")
        errors = [e for e in self.list(load.get("cell_errors"), "extra_data.load.cell_errors") if isinstance(e, dict)]
        cell_errors = tuple(CellError(e["cell"] if type(e.get("cell")) is int else self.line(e.get("cell"), 20),
                                      self.line(e.get("type"), 100), self.text(e.get("message"), 1000))
                            for e in errors[:_MAX_CELL_ERRORS])
        sandbox = None
        if "callables" in load:  # the sandbox ran it
            sandbox = SandboxLoad(self.line(load.get("error_type")) or None,
                                  self.lines(load.get("names"), "extra_data.load.names", LINE_CAP, _MAX_NAMES),
                                  self.lines(load.get("callables"), "extra_data.load.callables", LINE_CAP,
                                             _MAX_NAMES),
                                  self.text(load.get("stdout")), self.text(load.get("stderr")),
                                  load.get("crashed") is True, load.get("timed_out") is True)
        return LoadReport(load.get("ok", True) is not False, self.text(load.get("error")) or None, cell_errors,
                          sandbox)

    def result(self, raw: builtins.dict, student: str, assignment: str) -> Result:
        self.problems += [MISSING_FIELD.format(field=f) for f in ("score", "max_score", "tests") if f not in raw]
        extra = self.dict(raw.get("extra_data"), "extra_data")
        tests = tuple(t for i, r in enumerate(self.list(raw.get("tests"), "tests"))
                      if (t := self.case(r, i)) is not None)
        sha = extra.get("submission_sha256")
        missing = self.dict(extra.get("sandbox_missing"), "extra_data.sandbox_missing")
        cells = self.dict(extra.get("cell_scores"), "extra_data.cell_scores")
        recorded = extra.get("recorded")
        earlier = extra.get("problems")
        earlier = earlier if isinstance(earlier, builtins.list) else []  # a clean result's own
        return Result(
            safe_line(student), safe_line(assignment), self.number(raw.get("score", 0.0), "score"),
            self.number(raw.get("max_score", 0.0), "max_score"), tests, self.text(raw.get("output")),
            safe_number(raw.get("execution_time")), _name_only(extra.get("notebook")),
            sha if isinstance(sha, str) and _SHA256.fullmatch(sha) else None,
            self.line(extra.get("grader"), 64), self.line(extra.get("timestamp"), 64) or None,
            self.line(extra.get("timestamp_refused"), 500) or None, self.load(extra.get("load")),
            {self.line(k, 500): self.number(v, "extra_data.cell_scores") for k, v in list(cells.items())[:500]},
            self.lines(extra.get("sandbox_layers"), "extra_data.sandbox_layers", 80),
            {self.line(k, 80): self.text(v, 500) for k, v in list(missing.items())[:_MAX_ENTRIES]},
            self.lines(extra.get("flags"), "extra_data.flags", 500),
            recorded if isinstance(recorded, bool) else None,
            tuple(safe_line(p, 300) for p in [*earlier, *self.problems][:_MAX_ENTRIES]),
            self.line(extra.get("worker"), 200))
