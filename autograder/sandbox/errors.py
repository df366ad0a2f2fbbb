"""What a sandboxed call raises instead of returning a value (the policy is in proxy.py's docstring)."""
from __future__ import annotations

import re

__all__ = ["SandboxError", "StudentError", "CallTimeout", "WorkerCrashed", "InvalidResult", "NotDefined",
           "ProtocolError", "student_frames"]

# Structured frames of a student error: a notebook cell's name, a line number, a function name, at most this many.
_CELL_FILE = re.compile(r"<cell [0-9]{1,6}>\Z")
_FUNC_NAME = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_]{0,99}|<[a-z]{1,20}>)\Z")
_MAX_FRAMES = 6
_MAX_LINENO = 1_000_000


class SandboxError(Exception):
    """Base of everything a sandboxed call can raise instead of returning a value."""


class StudentError(SandboxError):
    """The student's code raised. ``type_name``, ``message`` and ``student_traceback`` (student frames only);
    ``type_names``: the exception's class and its bases, most derived first; ``frames``: the last notebook-cell
    frames as ``(filename "<cell N>", line number, function name)`` tuples, validated by the grader (the worker
    could send anything): the grader rebuilds each line's text from its own copy of the cells."""

    def __init__(self, type_name: str, message: str, student_traceback: str = "", type_names=(), frames=()):
        super().__init__(f"{type_name}: {message}")
        self.type_name, self.message, self.student_traceback = type_name, message, student_traceback
        self.type_names = tuple(type_names) or (type_name,)
        self.frames = tuple(frames)


class NotDefined(SandboxError):
    """The requested function is not defined (or not callable) in the student's namespace."""


class InvalidResult(SandboxError):
    """The function returned something that may not cross the boundary (only numeric arrays and plain data)."""


class CallTimeout(SandboxError):
    """The call ran past ``Limits.call_timeout_s``; the worker was killed."""


class WorkerCrashed(SandboxError):
    """The worker died (exit, signal, memory or CPU limit); ``reason`` says how."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ProtocolError(SandboxError):
    """The worker sent a malformed or oversized frame; it was killed and is not trusted any further."""


def student_frames(raw) -> tuple:
    """The worker's ``frames`` list, keeping only well-formed cell frames, the last ``_MAX_FRAMES``."""
    if type(raw) is not list:
        return ()
    out = []
    for f in raw[-_MAX_FRAMES:]:
        if (type(f) is list and len(f) == 3 and type(f[0]) is str and _CELL_FILE.match(f[0])
                and type(f[1]) is int and 0 < f[1] <= _MAX_LINENO and type(f[2]) is str and _FUNC_NAME.match(f[2])):
            out.append((f[0], f[1], f[2]))
    return tuple(out)
