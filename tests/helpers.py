"""Small helpers shared by several test modules."""
from __future__ import annotations

import numpy as np


def iter_arrays(value):
    """Every ndarray inside a case value (tuples, lists, dicts nested)."""
    if isinstance(value, np.ndarray):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from iter_arrays(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from iter_arrays(v)


def assert_rejects(fn, args, error, words) -> None:
    """``fn(*args)`` raises ``error`` whose message holds every one of ``words`` (the argument, its shape, ...)."""
    import pytest

    with pytest.raises(error) as info:
        fn(*args)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def student_notebook(source):
    """The source notebook at ``source`` as a student's finished notebook holds it: its solutions, without nbgrader's
    delimiters (the grader refuses a notebook that carries them: it is the instructor's source)."""
    from autograder.notebooks import fill_solutions, read_notebook

    nb = read_notebook(source)
    return fill_solutions(nb, nb)


def stop(*procs, grace_s: float = 30.0) -> None:
    """Stop background processes a test started (None skipped): SIGTERM, then SIGKILL after ``grace_s``."""
    import subprocess

    for proc in procs:
        if proc is None:
            continue
        proc.terminate()
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
