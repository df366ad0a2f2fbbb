"""Submission notebooks made from the real release: honest, partial, hostile and mistaken, plus the batch that
grades them.

Every submission starts from the released notebook of a course built with nbgrader (``autograder build``) with the
solutions put back from the source notebook (``fill_solutions``), then changes one thing: a function left as its
released stub, a solution body replaced by a hostile one, a cell added, deleted or edited, the file broken. Each
:class:`Hostile` and :class:`MistakeSubmission` states which functions lose their points and how, so the test's
expected score comes from the case table (``cases_for``), never from the grader.

Hostile code runs only inside the grader's sandbox, and every attack bounds itself in case a layer is missing (a
fork bomb forks at most ``FORK_BOMB_TRIES`` children that sleep ``< 100 s``; a memory bomb stops at 4 GiB; no
signal goes to a pid below 2).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import textwrap
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat

from assignments.authoring.nb import BEGIN, END, fill_solutions, without_delimiters
from autograder.build import SOURCE_ROOT, build_course
from autograder.results import read_result, result_path
from autograder.sandbox import Limits
from autograder.suites import cases_for, points_by_function, twins_for

__all__ = ["ASSIGNMENT", "BATCH_LIMITS", "HOSTILE", "MISTAKES", "HONEST", "Hostile", "MistakeSubmission",
           "HonestSubmission", "Context", "BatchRun", "pristine_course", "fresh_course", "honest_notebook",
           "with_stubs", "replace_body", "expected_score", "lost_cases", "check_case_by_case", "write_submission", "layers_batch",
           "procs_with", "gradebook_scores", "course_listing"]

ASSIGNMENT = "layers"
REPO = Path(__file__).resolve().parents[2]
WORKERS = 2
# Short enough that an endless loop costs ~1.5 s per case (not the 10 s default), long enough for any correct
# function of this assignment on small arrays (milliseconds) on a loaded 2-core machine.
BATCH_LIMITS = Limits(call_timeout_s=1.5, load_timeout_s=20.0, memory_mb=512)
FORK_BOMB_TRIES = 100          # more than Limits.max_procs (32): reaching it means the process limit failed
DAEMON_DELAY_S = 1.5           # the daemon writes its marker this long after starting
MEMORY_BOMB_BLOCKS = 64        # x 64 MiB = 4 GiB: over the sandbox limit (BATCH_LIMITS), far under the machine


# ----------------------------------------------------------------------------------------------- notebooks
def _read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(str(path), as_version=4)


def released_notebook(course: Path, assignment: str = ASSIGNMENT) -> nbformat.NotebookNode:
    return _read(course / "release" / assignment / f"{assignment}.ipynb")


def honest_notebook(course: Path, assignment: str = ASSIGNMENT) -> nbformat.NotebookNode:
    """The release as a student gets it, every stub filled with the source notebook's solution."""
    return fill_solutions(released_notebook(course, assignment), SOURCE_ROOT / assignment / f"{assignment}.ipynb")


def _cell(nb, grade_id: str):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    raise LookupError(f"no cell {grade_id!r}")


def _index(nb, grade_id: str) -> int:
    return nb.cells.index(_cell(nb, grade_id))


def with_stubs(nb, course: Path, functions, assignment: str = ASSIGNMENT):
    """``nb`` with the solution cells of ``functions`` put back to the released stubs."""
    released = released_notebook(course, assignment)
    for f in functions:
        _cell(nb, f"{f}_solution").source = _cell(released, f"{f}_solution").source
    return nb


def _source_cell(grade_id: str):
    """The cell ``grade_id`` of whichever source notebook has it (grade ids are unique across the assignments)."""
    for path in sorted(SOURCE_ROOT.glob("*/*.ipynb")):
        try:
            return _cell(_read(path), grade_id)
        except LookupError:
            continue
    raise LookupError(f"no source notebook has a cell {grade_id!r}")


def replace_body(nb, function: str, body: str):
    """``nb`` with the solution region of ``function`` replaced by ``body`` (the input checks above it stay; the
    region is found in the source notebook's cell, and the result carries no delimiters, as a student's does)."""
    source = _source_cell(f"{function}_solution").source
    head, rest = source.split(BEGIN, 1)
    tail = rest.split(END, 1)[1].split("\n", 1)[1] if "\n" in rest.split(END, 1)[1] else ""
    indent = head.splitlines()[-1]  # the whitespace before "### BEGIN SOLUTION"
    head = head[: len(head) - len(indent)]
    _cell(nb, f"{function}_solution").source = (
        f"{head}{textwrap.indent(textwrap.dedent(body).strip(), indent)}\n{without_delimiters(tail)}".rstrip("\n"))
    return nb


def honest_body(function: str, assignment: str = ASSIGNMENT) -> str:
    """The source notebook's solution region of ``function``, dedented."""
    source = _cell(_read(SOURCE_ROOT / assignment / f"{assignment}.ipynb"), f"{function}_solution").source
    return textwrap.dedent(source.split(BEGIN, 1)[1].split(END, 1)[0].split("\n", 1)[1].rstrip(" "))


def guarded_body(function: str, prefix: str) -> str:
    """``prefix`` (an attack) then the honest solution: the function is right only if the attack worked."""
    return textwrap.dedent(prefix).strip() + "\n" + honest_body(function)


def insert_cell(nb, source: str, after: str):
    """``nb`` with a new code cell (student-added, no nbgrader metadata) after the cell ``after``."""
    nb.cells.insert(_index(nb, after) + 1, nbformat.v4.new_code_cell(textwrap.dedent(source).strip()))
    return nb


def delete_cells(nb, *grade_ids: str):
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in grade_ids]
    return nb


def write_submission(course: Path, student: str, content, assignment: str = ASSIGNMENT) -> Path:
    """``content`` (a notebook or raw bytes) as nbgrader's ``submitted/<student>/<assignment>/<assignment>.ipynb``."""
    path = course / "submitted" / student / assignment / f"{assignment}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else nbformat.writes(content).encode())
    return path


# ----------------------------------------------------------------------------------------------- expected scores
def expected_score(broken: dict[str, str], assignment: str = ASSIGNMENT) -> float:
    """Total points minus what the ``broken`` functions lose: all of their points. ``"body"``: the solution is wrong
    or hostile (its input checks stand, but reject bad input for a function that computes nothing right, which
    earns nothing: convkit_check.credit). ``"stub"``: the released stub. ``"all"``: the function is missing. Points
    are whole or half numbers, so these sums are exact."""
    return sum(points for function, points in points_by_function(assignment).items() if function not in broken)


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


# ----------------------------------------------------------------------------------------------- honest work
@dataclass(frozen=True)
class HonestSubmission:
    student: str
    stubs: tuple = ()

    def build(self, course: Path):
        return with_stubs(honest_notebook(course), course, self.stubs)

    @property
    def broken(self) -> dict:
        return {f: "stub" for f in self.stubs}


HONEST = [HonestSubmission("honest_full"), HonestSubmission("honest_partial_a", ("relu", "softmax")),
          HonestSubmission("honest_partial_b", ("max_pool2d", "cross_entropy"))]
TWIN_PREFIX = "twin_"  # the same notebooks again, graded inside the hostile batch


# ----------------------------------------------------------------------------------------------- named mistakes
@dataclass(frozen=True)
class MistakeSubmission:
    """A realistic buggy solution of ``function`` that makes ``mistake`` (a name of autograder.mistakes).
    ``fails``: the cases it gets wrong (default: those where the mistake changes the answer)."""

    mistake: str
    function: str
    body: str
    fails: Callable | None = None
    assignment: str = ASSIGNMENT

    @property
    def student(self) -> str:
        return f"mistake_{self.mistake}_{self.function}"

    def failing(self, case) -> bool:
        return self.fails(case) if self.fails else case.function == self.function and self.mistake in case.diagnoses


def check_case_by_case(result: dict, m: MistakeSubmission) -> dict[str, int]:
    """Assert every case of ``result`` is scored as ``m`` makes it (:func:`lost_cases`: the cases it breaks fail,
    the right ones of a function that passes no hidden case are "unconfirmed", the rest pass) and its mistake is
    named on each broken case whose answer it changes; returns how many were named, by visibility."""
    from autograder.mistakes import MISTAKES as KNOWN
    from autograder.student.convkit_check import DIAGNOSIS_MESSAGE

    cases = {(c.function, c.case_id): c for c in cases_for(m.assignment)}
    lost = {(c.function, c.case_id) for c in lost_cases(list(cases.values()), m.failing)}
    named = {"visible": 0, "hidden": 0}
    for t in result["tests"]:
        case = cases[(t["extra_data"]["function"], t["extra_data"]["case"])]
        if (case.function, case.case_id) not in lost:
            assert t["status"] == "passed", t
            continue
        if not m.failing(case):  # right, but its function passes no hidden case: convkit_check.credit
            assert (t["extra_data"]["kind"], t["score"]) == ("unconfirmed", 0), t
            continue
        assert t["status"] == "failed" and t["score"] == 0, t
        if m.mistake in case.diagnoses:  # the mistake changes this case's answer: it must be named
            assert m.mistake in (t["extra_data"]["diagnosis"] or "").split(", "), t
            assert DIAGNOSIS_MESSAGE.format(name=m.mistake, explanation=KNOWN[m.mistake].explanation) in t["output"]
            named[case.visibility] += 1
    return named


_WINDOWS = "np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))"
MISTAKES = [
    MistakeSubmission("relu_wrong_side", "relu", "return np.minimum(x, 0)"),
    MistakeSubmission("stride_ignored", "max_pool2d", f"windows = {_WINDOWS}\nreturn windows.max(axis=(-2, -1))"),
    MistakeSubmission("sum_instead_of_mean", "avg_pool2d",
                      f"windows = {_WINDOWS}[:, :, ::sh, ::sw]\nreturn windows.sum(axis=(-2, -1))"),
    MistakeSubmission("mean_instead_of_sum", "sum_pool2d",
                      f"windows = {_WINDOWS}[:, :, ::sh, ::sw]\nreturn windows.mean(axis=(-2, -1))"),
    MistakeSubmission("flatten_channels_last", "flatten",
                      "return np.moveaxis(x, 1, -1).reshape(x.shape[0], -1)"),
    MistakeSubmission("missing_bias", "dense_forward",
                      "dtype = same_float_dtype(x, w, b)\nreturn x.astype(dtype) @ w.astype(dtype)"),
    # x @ w.T only runs when w is square; the other cases fail with an error, the bad-input case still raises.
    MistakeSubmission("weights_transposed", "dense_forward",
                      "dtype = same_float_dtype(x, w, b)\nreturn x.astype(dtype) @ w.astype(dtype).T + b.astype(dtype)",
                      fails=lambda c: c.function == "dense_forward" and c.kind != "raises"),
    MistakeSubmission("softmax_overflow", "softmax", "e = np.exp(z)\nreturn e / e.sum(axis=-1, keepdims=True)"),
    MistakeSubmission("softmax_wrong_axis", "softmax",
                      "e = np.exp(z - z.max(axis=0, keepdims=True))\nreturn e / e.sum(axis=0, keepdims=True)"),
    MistakeSubmission("cross_entropy_sum_not_mean", "cross_entropy",
                      "z64 = z.astype(np.float64)\ntop = z64.max(axis=1, keepdims=True)\n"
                      "lse = np.log(np.exp(z64 - top).sum(axis=1)) + top[:, 0]\n"
                      "return z.dtype.type(np.sum(lse - z64[np.arange(z.shape[0]), y]))"),
    MistakeSubmission("softmax_overflow", "cross_entropy",
                      "p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)\n"
                      "return np.mean(-np.log(p[np.arange(z.shape[0]), y]))"),
]


def lost_cases(cases, failing) -> list:
    """The cases a function loses when it gets ``failing(case)`` wrong, by convkit_check.credit's rule: those; a
    public case without a twin (suites.twins_for: no float input) when its function gets every hidden case wrong (a
    twin fails where its public case fails: the same call on scaled inputs); a bad-input case when its function
    earns nothing on any ordinary case."""
    lost = [c for c in cases if failing(c)]
    by_function: dict = {}
    for c in cases:
        by_function.setdefault(c.function, []).append(c)
    for function, mine in by_function.items():
        twins = twins_for(mine[0].assignment, mine)
        hidden = [c for c in mine if c.kind != "raises" and c.visibility != "visible"]
        if hidden and all(failing(c) for c in hidden):
            lost += [c for c in mine if c.kind != "raises" and c.visibility == "visible"
                     and (c.function, c.case_id) not in twins and c not in lost]
        if all(c in lost for c in mine if c.kind != "raises"):
            lost += [c for c in mine if c.kind == "raises" and c not in lost]
    return lost


def mistake_expected(m: MistakeSubmission) -> float:
    """Total points minus the cases the mistake loses (:func:`lost_cases`)."""
    lost = lost_cases(cases_for(m.assignment), m.failing)
    return sum(points_by_function(m.assignment).values()) - sum(c.points for c in lost)


# ----------------------------------------------------------------------------------------------- courses
_CACHE: dict = {}


def pristine_course(tmp_path_factory) -> Path:
    """A course with ``layers`` built by nbgrader, once per test process; copy it with :func:`fresh_course`."""
    if "pristine" not in _CACHE:
        course = tmp_path_factory.mktemp("pristine-course")
        build_course(course, [ASSIGNMENT])
        _CACHE["pristine"] = course
    return _CACHE["pristine"]


def fresh_course(tmp_path_factory, name: str) -> Path:
    """A copy of the pristine course (its release, source and gradebook), to grade into."""
    dest = tmp_path_factory.mktemp(name) / "course"
    shutil.copytree(pristine_course(tmp_path_factory), dest)
    return dest


# ----------------------------------------------------------------------------------------------- observation
def procs_with(marker: str) -> list[int]:
    """Pids whose command line holds ``marker`` (a /proc scan)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


def gradebook_scores(course: Path, assignment: str = ASSIGNMENT) -> dict[str, dict[str, float]]:
    """``{student: {grade cell: auto_score}}`` as nbgrader's own API reads the gradebook."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="convkit") as gb:
        for student in gb.students:
            try:
                sub = gb.find_submission(assignment, student.id)
            except Exception:
                continue
            out[student.id] = {g.name: g.auto_score for nb in sub.notebooks for g in nb.grades}
    return out


def sqlite_tables(path: Path) -> list[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return sorted(r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))


def course_listing(course: Path) -> dict[str, tuple[int, int]]:
    """``{relative path: (size, mtime_ns)}`` of every file of the course."""
    return {str(p.relative_to(course)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(course.rglob("*")) if p.is_file()}


def results_of(course: Path, students) -> dict[str, dict]:
    return {s: read_result(result_path(course, ASSIGNMENT, s)) for s in students}


# ----------------------------------------------------------------------------------------------- the batch
@dataclass
class BatchRun:
    course: Path
    ctx: Context
    baseline: object            # BatchSummary of the honest students alone
    summary: object             # BatchSummary of the big batch (twins + hostile + mistakes)
    zip_summary: object         # BatchSummary of the LMS zip
    seconds: float
    before: dict                # course listing after the baseline, before the big batch
    after: dict
    baseline_files: dict        # bytes and mtime of the baseline result files before the big batch
    gradebook_before: dict
    tables_before: list
    sigterm_received: list
    connections: list
    victim_alive: bool
    daemon_marker_seen: bool
    survivors: dict
    results: dict


def _batch(tmp_path_factory) -> BatchRun:
    from autograder.grade import grade_batch

    course = fresh_course(tmp_path_factory, "hostile-batch")
    marker_dir = Path(tempfile.mkdtemp(prefix="convkit-hostile-", dir="/var/tmp" if os.path.isdir("/var/tmp")
                                       else None))
    marker_dir.chmod(0o777)  # writable by anyone: only the sandbox may keep the daemon out
    server = socket.create_server(("127.0.0.1", 0))
    victim = subprocess.Popen(["sleep", "300"])
    received: list = []
    old_handler = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        ctx = Context(course, marker_dir, server.getsockname()[1], [os.getpid(), victim.pid])
        for h in HONEST:
            write_submission(course, h.student, h.build(course))
        baseline = grade_batch(ASSIGNMENT, [], course, workers=WORKERS, progress=False, limits=BATCH_LIMITS)
        names = [h.student for h in HONEST]
        baseline_files = {s: (result_path(course, ASSIGNMENT, s).read_bytes(),
                              result_path(course, ASSIGNMENT, s).stat().st_mtime_ns) for s in names}
        gradebook_before = gradebook_scores(course)
        tables_before = sqlite_tables(ctx.gradebook)
        for h in HONEST:
            write_submission(course, TWIN_PREFIX + h.student, h.build(course))
        for hostile in HOSTILE:
            write_submission(course, hostile.student, hostile.build(honest_notebook(course), ctx))
        for m in MISTAKES:
            write_submission(course, m.student, replace_body(honest_notebook(course), m.function, m.body))
        before = course_listing(course)
        started = time.perf_counter()
        summary = grade_batch(ASSIGNMENT, [], course, workers=WORKERS, progress=False, limits=BATCH_LIMITS)
        seconds = time.perf_counter() - started
        # An LMS export: two notebooks in one zip, named <student>_<assignment>.ipynb.
        archive = course.parent / "lms_export.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("zip_full_layers.ipynb", nbformat.writes(HONEST[0].build(course)))
            zf.writestr("zip_partial_layers.ipynb", nbformat.writes(HONEST[1].build(course)))
        zip_summary = grade_batch(ASSIGNMENT, [archive], course, workers=WORKERS, progress=False,
                                  limits=BATCH_LIMITS)
        # The daemon would write its marker DAEMON_DELAY_S after starting: give it that long, and more.
        time.sleep(DAEMON_DELAY_S + 1.0)
        server.setblocking(False)
        connections = []
        try:
            while True:
                connections.append(server.accept()[1])
        except BlockingIOError:
            pass
        after = course_listing(course)
        students = ([h.student for h in HONEST] + [TWIN_PREFIX + h.student for h in HONEST]
                    + [h.student for h in HOSTILE] + [m.student for m in MISTAKES] + ["zip_full", "zip_partial"])
        return BatchRun(course=course, ctx=ctx, baseline=baseline, summary=summary, zip_summary=zip_summary,
                        seconds=seconds, before=before, after=after, baseline_files=baseline_files,
                        gradebook_before=gradebook_before, tables_before=tables_before,
                        sigterm_received=list(received), connections=connections, victim_alive=victim.poll() is None,
                        daemon_marker_seen=any(marker_dir.iterdir()),
                        survivors={"fork": procs_with(ctx.fork_marker),
                                   "daemon": procs_with(ctx.daemon_marker) + procs_with(ctx.daemon_sleep)},
                        results=results_of(course, students))
    finally:
        signal.signal(signal.SIGTERM, old_handler)
        server.close()
        victim.kill()
        victim.wait()
        shutil.rmtree(marker_dir, ignore_errors=True)


def layers_batch(tmp_path_factory) -> BatchRun:
    """The one big graded batch of the session (computed on first use, shared by the hostile and diagnosis tests)."""
    if "batch" not in _CACHE:
        _CACHE["batch"] = _batch(tmp_path_factory)
    return _CACHE["batch"]
