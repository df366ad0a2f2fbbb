"""The hostile submissions of the ``layers`` batch: each :class:`Hostile` builds its notebook (or bytes) from the
honest one with :mod:`autograder.factory` and states which functions lose their points (``broken``, as in
``expected_score``).

Hostile code runs only inside the grader's sandbox, and every attack bounds itself in case a layer is missing (a
fork bomb forks at most ``FORK_BOMB_TRIES`` children that sleep ``< 100 s``; a memory bomb stops at 4 GiB; no
signal goes to a pid below 2).
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from tests.support.layers_course import (ASSIGNMENT, REPO, SOURCE_ROOT, _cell, delete_cells, guarded_body,
                                        insert_cell, replace_body, with_stubs)

__all__ = ["FORK_BOMB_TRIES", "DAEMON_DELAY_S", "MEMORY_BOMB_BLOCKS", "Context", "Hostile", "HOSTILE"]

FORK_BOMB_TRIES = 100          # more than Limits.max_procs (32): reaching it means the process limit failed
DAEMON_DELAY_S = 1.5           # the daemon writes its marker this long after starting
MEMORY_BOMB_BLOCKS = 64        # x 64 MiB = 4 GiB: over the sandbox limit (BATCH_LIMITS), far under the machine


# ----------------------------------------------------------------------------------------------- the attacks
@dataclass
class Context:
    """What the attacks aim at, known to the test: absolute paths, a listening port, pids, unique markers."""

    course: Path
    marker_dir: Path
    port: int
    pids: list[int]
    fork_marker: str = field(default_factory=lambda: f"97.{uuid.uuid4().int % 10 ** 6:06d}")
    daemon_marker: str = field(default_factory=lambda: f"convkit-daemon-{uuid.uuid4().hex[:10]}")
    # The daemon's last command is `sleep <daemon_sleep>` (a shell may exec it, dropping its own command line).
    daemon_sleep: str = field(default_factory=lambda: f"61.{uuid.uuid4().int % 10 ** 6:06d}")

    @property
    def results(self) -> Path:
        return self.course / "results" / ASSIGNMENT

    @property
    def gradebook(self) -> Path:
        return self.course / "gradebook.db"


@dataclass(frozen=True)
class Hostile:
    """A hostile submission: ``build(honest notebook, context)`` -> notebook or bytes; ``broken`` as in
    :func:`expected_score` (``None``: the notebook earns nothing, it cannot be read or is the wrong one)."""

    student: str
    what: str
    build: Callable
    broken: dict | None = field(default_factory=dict)


_NUMPY_PATCH = """
# "make every check pass": only this worker's numpy is patched, never the grader's
import numpy as np
np.testing.assert_allclose = lambda *a, **k: None
np.testing.assert_array_equal = lambda *a, **k: None
np.testing.assert_array_almost_equal = lambda *a, **k: None
np.allclose = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones(np.broadcast(a, b).shape, dtype=bool)
np.array_equal = lambda *a, **k: True
"""
_BUILTINS_PATCH = """
import builtins
builtins.abs = lambda *a, **k: 0.0
builtins.all = lambda *a, **k: True
builtins.any = lambda *a, **k: False
builtins.round = lambda *a, **k: 0
"""
_ALWAYS_EQUAL = """
class _Equal:
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    def __array__(self, *a, **k):
        return np.zeros(1)
return _Equal()
"""
_SUBCLASS = """
class _Liar(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(other), dtype=bool)
    def __sub__(self, other):
        return np.zeros(np.shape(other))
    __rsub__ = __sub__
windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
return np.zeros(windows.shape[:4], dtype=x.dtype).view(_Liar)
"""
_FORK_BOMB = """
import os
made = 0
for _ in range({tries}):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        try:
            os.execv("/bin/sleep", ["sleep", "{marker}"])
        finally:
            os._exit(0)
    made += 1
if made < {tries}:
    raise RuntimeError(f"only {{made}} processes")
"""
_DAEMON = """
import os, time
if not globals().get("_daemon_started"):
    globals()["_daemon_started"] = True
    try:
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                try:
                    os.execv("/bin/sh", ["sh", "-c", "sleep {delay}; echo pwned > {target}; sleep {sleep}", "{marker}"])
                finally:
                    os._exit(0)
            os._exit(0)
    except OSError:
        pass
"""
_WRITE = """
import json, sqlite3
wrote = []
for name in ("honest_full.json", "mallory.json"):
    try:
        with open("{results}/" + name, "w") as fh:
            json.dump({{"score": 1000.0, "tests": []}}, fh)
        wrote.append(name)
    except OSError:
        pass
try:
    db = sqlite3.connect("file:{gradebook}?mode=rw", uri=True)
    db.execute("UPDATE grade SET auto_score = 1000")
    db.execute("CREATE TABLE pwned (x)")
    db.commit()
    wrote.append("gradebook")
except Exception:
    pass
if not wrote:
    raise PermissionError("nothing could be forged")
"""
_READ = """
texts = []
for path in {paths!r}:
    with open(path) as fh:  # an OSError here costs this function its points: exactly what must happen
        texts.append(fh.read())
"""
_CONNECT = """
import socket
with socket.create_connection(("127.0.0.1", {port}), timeout=0.5) as s:
    s.sendall(b"give me the expected values")
"""
_SIGNALS = """
import os, signal
targets = [os.getppid()] + {pids!r}
for pid in targets:
    if pid > 1:  # never 0, 1 or a negative pid (a process group): only single processes
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
"""
_PRINT = """
import os
print("x" * (100 << 20))
os.write(1, b"y" * (100 << 20))
"""
_MEMORY = """
blocks = []
for _ in range({blocks}):
    blocks.append(np.ones(1 << 23))
del blocks
"""


def _body(function: str, body: str):
    return lambda nb, ctx: replace_body(nb, function, body.format(**_fmt(ctx)) if "{" in body else body)


def _guard(function: str, prefix: str):
    return lambda nb, ctx: replace_body(nb, function, guarded_body(function, prefix.format(**_fmt(ctx))))


def _fmt(ctx: Context) -> dict:
    return {"tries": FORK_BOMB_TRIES, "marker": ctx.fork_marker, "results": ctx.results,
            "gradebook": ctx.gradebook, "port": ctx.port, "pids": ctx.pids, "blocks": MEMORY_BOMB_BLOCKS}


def _daemon(nb, ctx):
    prefix = _DAEMON.format(delay=DAEMON_DELAY_S, target=ctx.marker_dir / f"{ctx.daemon_marker}.txt",
                            marker=ctx.daemon_marker, sleep=ctx.daemon_sleep)
    return replace_body(nb, "max_pool2d", guarded_body("max_pool2d", prefix))


def _read_files(function: str, paths: list[Path]):
    return lambda nb, ctx: replace_body(nb, function, guarded_body(function, _READ.format(paths=[str(p) for p in
                                                                                               paths])))


def _edited_test_cell(nb, ctx):
    course = ctx.course
    nb = with_stubs(nb, course, ["relu"])
    # The student "fixes" relu in its locked test cell and silences two checks; test cells are never run.
    _cell(nb, "relu_check").source = ("def relu(x):\n    return np.maximum(x, 0)\n\nprint(\"all good\")")
    _cell(nb, "softmax_check").source = "softmax = None\nprint(\"all good\")"
    return nb


def _import_error(nb, ctx):
    cell = _cell(nb, "max_pool2d_solution")
    cell.source = "raise RuntimeError(\"the data file is missing\")\n\n" + cell.source
    return nb


def _wrong_assignment(nb, ctx):
    return (SOURCE_ROOT / "backprop" / "backprop.ipynb").read_bytes()


HOSTILE = [
    Hostile("patch_numpy", "patches np.testing / np.allclose at the top of a cell; relu is wrong",
            lambda nb, ctx: replace_body(insert_cell(nb, _NUMPY_PATCH, "setup"), "relu", "return x * 2"),
            {"relu": "body"}),
    Hostile("always_equal", "softmax returns an object whose __eq__ is always true",
            _body("softmax", _ALWAYS_EQUAL), {"softmax": "body"}),
    Hostile("ndarray_subclass", "avg_pool2d returns zeros as an ndarray subclass that claims equality",
            _body("avg_pool2d", _SUBCLASS), {"avg_pool2d": "body"}),
    Hostile("os_exit", "sum_pool2d calls os._exit", _body("sum_pool2d", "import os\nos._exit(3)"),
            {"sum_pool2d": "body"}),
    Hostile("sys_exit_top", "a cell calls sys.exit at top level after defining relu",
            lambda nb, ctx: insert_cell(nb, "import sys\nsys.exit('grading is over')", "relu_solution"), {}),
    Hostile("endless_loop", "flatten loops forever", _body("flatten", "while True:\n    pass"),
            {"flatten": "body"}),
    Hostile("sleeper", "dense_forward sleeps 1000 s", _body("dense_forward", "import time\ntime.sleep(1000)"),
            {"dense_forward": "body"}),
    Hostile("memory_bomb", "cross_entropy allocates 4 GiB before answering", _guard("cross_entropy", _MEMORY),
            {"cross_entropy": "body"}),
    Hostile("fork_bomb", "relu forks 100 sleeping children, right only if all were forked",
            _guard("relu", _FORK_BOMB), {"relu": "body"}),
    Hostile("setsid_daemon", "max_pool2d starts a setsid daemon that writes a marker outside later", _daemon, {}),
    Hostile("forge_results", "softmax writes result files and the gradebook, right only if that worked",
            _guard("softmax", _WRITE), {"softmax": "body"}),
    Hostile("read_reference", "softmax reads reference/softmax_ce.py, right only if it could",
            _read_files("softmax", [REPO / "reference" / "softmax_ce.py", REPO / "reference" / "pool.py"]),
            {"softmax": "body"}),
    Hostile("read_suites", "relu reads the hidden suites, right only if it could",
            _read_files("relu", [REPO / "autograder" / "suites" / "layers.py",
                                 REPO / "autograder" / "suites" / "__init__.py"]), {"relu": "body"}),
    Hostile("loopback_tcp", "sum_pool2d connects to the test's loopback server, right only if it could",
            _guard("sum_pool2d", _CONNECT), {"sum_pool2d": "body"}),
    Hostile("signal_parent", "avg_pool2d sends SIGTERM to its parent, the grading process and a victim",
            _guard("avg_pool2d", _SIGNALS), {}),
    Hostile("print_100mb", "flatten prints 100 MB and writes 100 MB to fd 1", _guard("flatten", _PRINT), {}),
    Hostile("malformed_json", "the file is not JSON",
            lambda nb, ctx: b'{"cells": [{"cell_type": "code", "source": "def relu(x):', None),
    Hostile("truncated", "the notebook's first half only",
            lambda nb, ctx: (lambda raw: raw[: len(raw) // 2])(nbformat.writes(nb).encode()), None),
    Hostile("deleted_cells", "the solution cells of relu and max_pool2d are deleted",
            lambda nb, ctx: delete_cells(nb, "relu_solution", "max_pool2d_solution"),
            {"relu": "all", "max_pool2d": "all"}),
    Hostile("edited_test_cell", "relu is a stub, 'fixed' in its test cell, which prints 'all good'",
            _edited_test_cell, {"relu": "stub"}),
    Hostile("wrong_assignment", "the backprop notebook submitted for layers", _wrong_assignment, None),
    Hostile("import_error", "max_pool2d's cell raises before its def", _import_error, {"max_pool2d": "all"}),
    Hostile("patch_builtins", "a cell patches builtins (abs, all, any, round); relu is wrong",
            lambda nb, ctx: replace_body(insert_cell(nb, _BUILTINS_PATCH, "setup"), "relu", "return x + 1.0"),
            {"relu": "body"}),
]
