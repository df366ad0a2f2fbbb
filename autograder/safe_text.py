"""Untrusted text made safe once: for an HTML page, a CSV cell, or a student's eyes.

Everything a result file or a submitted notebook carries is hostile data (ARCHITECTURE.md, invariant 8): a student
id is a folder name the student chose, a message can hold what the student's code raised, a notebook's JSON can
hold a lone surrogate (``"\\ud800"`` is valid JSON, but no UTF-8 file can hold it, so writing a page with it
fails), and a malformed result file can hold anything of any type. :func:`safe_text` turns any value into a
bounded string that every writer accepts; :func:`clean_result` applies it (and :func:`safe_number`) to every field
of a result, so :mod:`autograder.feedback` and :mod:`autograder.report` work on typed, safe data only.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

__all__ = ["safe_text", "safe_line", "safe_number", "csv_cell", "hide_paths", "clean_result", "read_result_file",
           "TEXT_CAP", "LINE_CAP", "REPLACEMENT", "CUT_MARK", "FORMULA_PREFIXES", "MAX_RESULT_BYTES",
           "NOT_A_RESULT", "RESULT_TOO_BIG", "RESULT_UNREADABLE", "NOT_A_NUMBER", "NOT_A_LIST", "NOT_AN_OBJECT",
           "MISSING_FIELD"]

TEXT_CAP, LINE_CAP = 5_000, 200
REPLACEMENT, CUT_MARK = "\ufffd", "\u2026"
# Control characters (all but tab, newline and carriage return, the whitespace XML 1.0 allows too), lone
# surrogates, the bidirectional overrides and isolates (they reorder what a reader sees: "Trojan source") and the
# two non-characters.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\ufffe\uffff]")
_BREAKS = re.compile("[\t\n\r]+")
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV Injection").
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# An absolute path of two or more parts (POSIX or Windows), not inside a word, a relative path or a URL.
_ABS_PATH = re.compile(r"(?<![\w/.~\\:-])(?:/[^\s/\\'\"<>:;,()\[\]]+){2,}/?|\b[A-Za-z]:\\(?:[^\s\\'\"<>:;,]+\\)*"
                       r"[^\s\\'\"<>:;,]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# A grader's result file is ~100 kB for a big assignment; far more is not a result the grader wrote.
MAX_RESULT_BYTES = 20 << 20

NOT_A_RESULT = "not a result: the file holds a JSON {got}, not an object"
RESULT_TOO_BIG = "{size} bytes is over the {cap} bytes a result file may have"
RESULT_UNREADABLE = "could not be read: {reason}"
NOT_A_NUMBER = "{field} is not a finite number (a {got}): counted as 0"
NOT_A_LIST = "{field} is not a list (a {got}): ignored"
NOT_AN_OBJECT = "{field} is not an object (a {got}): ignored"
MISSING_FIELD = "{field} is missing"


def safe_text(value, cap: int = TEXT_CAP) -> str:
    """``value`` as a string of at most ``cap`` characters (cut ones end in ``…``), with control characters (except
    tab, newline, CR), lone surrogates and bidi overrides replaced by U+FFFD. ``None`` is ``""``; bytes are decoded
    as UTF-8 (bad bytes replaced); a value whose ``str`` fails is named by its type. Never raises."""
    if cap < 1:
        raise ValueError(f"cap must be at least 1, got {cap!r}")
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value[: 4 * cap + 4]).decode("utf-8", errors="replace")
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = str(value)
        except Exception:  # an int over Python's digit limit, a recursion, a hostile __str__
            text = f"<unprintable {type(value).__name__}>"
    if len(text) > cap:
        text = text[: cap - 1] + CUT_MARK
    return _UNSAFE.sub(REPLACEMENT, text)


def safe_line(value, cap: int = LINE_CAP) -> str:
    """:func:`safe_text` on one line: tabs and line breaks become single spaces (names, ids, table cells)."""
    return _BREAKS.sub(" ", safe_text(value, cap))


def safe_number(value, default: float = 0.0) -> float:
    """``value`` as a finite float, or ``default`` when it is not an int or float (a bool, a string, NaN, inf)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    try:
        number = float(value)
    except OverflowError:
        return default
    return number if math.isfinite(number) else default


def csv_cell(value) -> str:
    """One cell of a CSV file a spreadsheet will open: numbers as ``%g``, text made safe and, when it starts with
    ``=``, ``+``, ``-``, ``@``, tab or CR, prefixed with a single quote so no spreadsheet runs it as a formula (the
    csv module then quotes cells holding the separator, quotes or line breaks)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}"
    text = safe_text(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def hide_paths(text: str, roots=()) -> str:
    """``text`` without the absolute paths of this machine: a path under one of ``roots`` (or their resolved forms;
    they may hold spaces) and any other absolute path become their last part (a notebook's file name stays, its
    folders go); a root alone becomes ``…``."""
    def last(match) -> str:
        return re.split(r"[\\/]", match.group(0).rstrip("/\\"))[-1]

    for root in sorted({str(r) for p in roots for r in (Path(p), Path(p).resolve())}, key=len, reverse=True):
        if len(root) > 1:
            text = re.sub(re.escape(root) + r"(?:[\\/][^\s'\"<>:;,()\[\]]*)?",
                          lambda m: (last(m) if m.group(0) != root else "") or CUT_MARK, text)
    return _ABS_PATH.sub(last, text)


def _name_only(value) -> str | None:
    """A file name without its folders (a notebook's path would show the instructor's machine)."""
    return re.split(r"[\\/]", safe_line(value))[-1] or None


class _Cleaner:
    """The conversions of one result file, recording what was malformed."""

    def __init__(self, roots):
        self.roots, self.problems = roots, []

    def text(self, value, cap=TEXT_CAP) -> str:
        text = safe_text(value, cap)
        return hide_paths(text, self.roots) if self.roots is not None else text

    def line(self, value, cap=LINE_CAP) -> str:
        return _BREAKS.sub(" ", self.text(value, cap))

    def number(self, value, field: str) -> float:
        number = safe_number(value, default=math.nan)
        if math.isnan(number):
            self.problems.append(NOT_A_NUMBER.format(field=field, got=type(value).__name__))
            return 0.0
        return number

    def dict(self, value, field: str) -> dict:
        if value is None or isinstance(value, dict):
            return value or {}
        self.problems.append(NOT_AN_OBJECT.format(field=field, got=type(value).__name__))
        return {}

    def list(self, value, field: str) -> list:
        if value is None or isinstance(value, list):
            return value or []
        self.problems.append(NOT_A_LIST.format(field=field, got=type(value).__name__))
        return []

    def test(self, raw, i: int) -> dict | None:
        if not isinstance(raw, dict):
            self.problems.append(NOT_AN_OBJECT.format(field=f"tests[{i}]", got=type(raw).__name__))
            return None
        extra = self.dict(raw.get("extra_data"), f"tests[{i}].extra_data")
        visibility = self.line(raw.get("visibility"), 40)
        function, case = self.line(extra.get("function")), self.line(extra.get("case"))
        status = "passed" if raw.get("status") == "passed" else "failed"
        diagnosis = self.line(extra.get("diagnosis"), 1000) if extra.get("diagnosis") else None
        return {"name": self.line(raw.get("name") or f"{function} [{case}]"),
                "score": self.number(raw.get("score"), f"tests[{i}].score"),
                "max_score": self.number(raw.get("max_score"), f"tests[{i}].max_score"),
                "status": status, "output": self.text(raw.get("output")), "visibility": visibility,
                "extra_data": {"function": function, "case": case, "kind": self.line(extra.get("kind") or status, 40),
                               "diagnosis": diagnosis, "problem": _problem(extra.get("problem")),
                               # hidden unless both marks say visible: a doubt never shows a hidden case
                               "hidden": bool(extra.get("hidden")) or visibility != "visible"}}

    def load(self, raw) -> dict:
        load = self.dict(raw, "extra_data.load")
        errors = [e for e in self.list(load.get("cell_errors"), "extra_data.load.cell_errors") if isinstance(e, dict)]
        return {"ok": load.get("ok", True) is not False, "error": self.text(load.get("error"), 2000) or None,
                "cell_errors": [{"cell": self.line(e.get("cell"), 20), "type": self.line(e.get("type"), 80),
                                 "message": self.text(e.get("message"), 1000)} for e in errors[:50]]}


def _problem(value) -> str | None:
    """A case's grader-computed problem (convkit_check.PROBLEMS), or None for anything else."""
    from autograder.student.convkit_check import PROBLEMS

    return value if isinstance(value, str) and value in PROBLEMS else None


def clean_result(raw, student: str, assignment: str, *, roots=None) -> dict:
    """A result (Gradescope results.json schema, as :mod:`autograder.grading` writes it) with every field the pages
    use of the right type and every text safe (:func:`safe_text`; with ``roots``, also :func:`hide_paths`, for a
    page a student reads). ``student`` and ``assignment`` are where the file lies, whatever it claims.
    ``extra_data["problems"]`` lists what was malformed. Raises ``ValueError`` when ``raw`` is not a JSON object.
    Cleaning a clean result changes nothing."""
    if not isinstance(raw, dict):
        raise ValueError(NOT_A_RESULT.format(got=type(raw).__name__))
    c = _Cleaner(roots)
    c.problems += [MISSING_FIELD.format(field=f) for f in ("score", "max_score", "tests") if f not in raw]
    extra = c.dict(raw.get("extra_data"), "extra_data")
    tests = [t for i, r in enumerate(c.list(raw.get("tests"), "tests")) if (t := c.test(r, i)) is not None]
    sha = extra.get("submission_sha256")
    missing = c.dict(extra.get("sandbox_missing"), "extra_data.sandbox_missing")
    clean = {
        "score": c.number(raw.get("score", 0.0), "score"),
        "max_score": c.number(raw.get("max_score", 0.0), "max_score"),
        "output": c.text(raw.get("output")), "visibility": "visible", "tests": tests,
        "extra_data": {
            "student": safe_line(student), "assignment": safe_line(assignment),
            "notebook": _name_only(extra.get("notebook")), "timestamp": c.line(extra.get("timestamp"), 64) or None,
            "grader": c.line(extra.get("grader"), 64),
            "submission_sha256": sha if isinstance(sha, str) and _SHA256.fullmatch(sha) else None,
            "load": c.load(extra.get("load")),
            "sandbox_layers": [c.line(x, 80) for x in c.list(extra.get("sandbox_layers"),
                                                               "extra_data.sandbox_layers")[:50]],
            "sandbox_missing": {c.line(k, 80): c.text(v, 500) for k, v in list(missing.items())[:50]},
            "timed_out": extra.get("timed_out") is True,
        },
    }
    earlier = extra.get("problems") if isinstance(extra.get("problems"), list) else []  # a clean result's own
    clean["extra_data"]["problems"] = [safe_line(p, 300) for p in [*earlier, *c.problems][:50]]
    return clean


def read_result_file(path: Path, student: str, assignment: str, *, roots=None) -> dict:
    """The clean result in ``path`` (:func:`clean_result`), the size capped before the read; raises ``ValueError``
    naming the problem when the file is too big, not JSON, or not an object."""
    path = Path(path)
    try:
        size = path.stat().st_size
        raw = None if size > MAX_RESULT_BYTES else json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise ValueError(RESULT_UNREADABLE.format(reason=f"{type(exc).__name__}: {safe_line(exc, 200)}")) from None
    if raw is None and size > MAX_RESULT_BYTES:
        raise ValueError(RESULT_TOO_BIG.format(size=size, cap=MAX_RESULT_BYTES))
    return clean_result(raw, student, assignment, roots=roots)
