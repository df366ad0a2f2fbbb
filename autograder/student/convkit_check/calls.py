"""How a case calls a student's function, and how a call that failed elsewhere is reported.

``call_in_namespace`` is the one calling rule of the self-check (in-process) and of the grader's sandbox worker,
which executes this file's SOURCE TEXT as its ``convkit_check``: so it imports nothing, not even of its package.
The grader's sandbox proxy reports a remote failure by raising :class:`StudentException`, :class:`CallTimeout`
or :class:`FunctionMissing`.
"""
from __future__ import annotations


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


def call_in_namespace(namespace: dict, name: str, args=(), kwargs=None):
    """The rule by which a case calls ``name``: a callable is called; a mapping (``KERNELS``) is indexed by
    ``args[0]``. The sandbox worker uses this same rule."""
    if name not in namespace:
        raise FunctionMissing(name)
    obj = namespace[name]
    if callable(obj):
        return obj(*args, **(kwargs or {}))
    return obj[args[0]]
