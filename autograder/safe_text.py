"""Untrusted text made safe once: for an HTML page, a CSV cell, or a student's eyes.

Everything a result file or a submitted notebook carries is hostile data (ARCHITECTURE.md, invariant 8): a student
id is a folder name the student chose, a message can hold what the student's code raised, a notebook's JSON can
hold a lone surrogate (``"\\ud800"`` is valid JSON, but no UTF-8 file can hold it, so writing a page with it
fails), and a malformed result file can hold anything of any type. :func:`safe_text` turns any value into a
bounded string that every writer accepts; :meth:`autograder.results.Result.from_json` applies it (and
:func:`safe_number`) to every field of a result file, so :mod:`autograder.feedback` and :mod:`autograder.report`
work on typed, safe data only. The messages that name what was wrong with a result file are here too.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

__all__ = ["safe_text", "safe_line", "safe_number", "csv_cell", "hide_paths", "TEXT_CAP", "LINE_CAP", "REPLACEMENT",
           "CUT_MARK", "FORMULA_PREFIXES", "MAX_RESULT_BYTES",
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
            def cut(match: re.Match, root: str = root) -> str:
                return (last(match) if match.group(0) != root else "") or CUT_MARK

            text = re.sub(re.escape(root) + r"(?:[\\/][^\s'\"<>:;,()\[\]]*)?", cut, text)
    return _ABS_PATH.sub(last, text)
