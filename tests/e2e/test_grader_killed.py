"""After ``kill -9`` of ``autograder grade`` mid-batch, does anything it started live on: the forkserver, the pool
processes (or the LocalCluster's Dask workers, with ``--scheduler local``), the sandbox workers (busy sleeping or
spinning), their cgroups? And does a re-run grade only what is missing, leaving no partial file?

A real CLI batch on a real nbgrader course, started under a small "reaper" process that is a child subreaper
(PR_SET_CHILD_SUBREAPER): every process of the batch's tree, orphaned by the kill, becomes a descendant of the
reaper instead of init's, so the test sees all of them, daemons included.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.grade import grade_batch
from autograder.results import result_path
from autograder.sandbox import Limits
from autograder.sandbox.cpuclock import WORKER_FLAGS
from autograder.sandbox.layers import cgroup_bases
from tests.support.submissions_factory import (ASSIGNMENT, HONEST, REPO, fresh_course, guarded_body, honest_notebook,
                                              replace_body, write_submission)

pytestmark = pytest.mark.slow

FIRST_RESULT_WAIT_S = 120     # the batch starts a pool and builds the cases first
SURVIVOR_WAIT_S = 10          # "within a few seconds": how long the tree may take to die after the kill
SLEEP_S = 4                   # each relu call of the sleeper (the default call timeout is 10 s)
SPIN_S = 8                    # each relu call of the spinner
RERUN_LIMITS = Limits(call_timeout_s=1.0)  # the re-run lets the sleeper and the spinner time out quickly

REAPER = """
import ctypes, os, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
child = subprocess.Popen(sys.argv[1:])
print(child.pid, flush=True)
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(0.05)
"""
CLI = "from autograder.cli import main; main()"


def _table() -> dict[int, tuple[int, str]]:
    """``{pid: (ppid, state)}`` of every process."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[int(entry)] = (int(fields[1]), fields[0])
    return out


def _descendants(root: int) -> dict[int, str]:
    """Live (not zombie) descendants of ``root``: ``{pid: command line}``."""
    table = _table()
    found, frontier = {}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, state) in table.items():
            if ppid == parent and pid not in found:
                frontier.append(pid)
                if state != "Z":
                    with contextlib.suppress(OSError):
                        found[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:160].decode()
    return found


def _workers(tree: dict[int, str]) -> list[int]:
    flags = f" {' '.join(WORKER_FLAGS)} "  # how a sandbox worker's command line reads
    return [pid for pid, cmd in tree.items() if flags in cmd and "autograder" not in cmd]


@pytest.mark.parametrize("engine", ["pool", "dask"])
def test_kill_9_of_the_grade_command_leaves_no_process_behind(tmp_path_factory, engine):
    course = fresh_course(tmp_path_factory, f"killed-{engine}")
    write_submission(course, "a_quick", HONEST[0].build(course))
    write_submission(course, "b_sleeper", replace_body(honest_notebook(course), "relu", guarded_body(
        "relu", f"import time\ntime.sleep({SLEEP_S})")))
    write_submission(course, "c_spinner", replace_body(honest_notebook(course), "relu", guarded_body(
        "relu", f"import time\n_t = time.monotonic()\nwhile time.monotonic() - _t < {SPIN_S}:\n    pass")))
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [sys.executable, "-c", CLI, "grade", ASSIGNMENT, "--course", str(course), "--workers", "2",
           *(["--scheduler", "local"] if engine == "dask" else [])]
    reaper = subprocess.Popen([sys.executable, "-c", REAPER, *cmd], cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        cli = int(reaper.stdout.readline())
        first = result_path(course, ASSIGNMENT, "a_quick")
        deadline = time.monotonic() + FIRST_RESULT_WAIT_S
        tree = {}
        while time.monotonic() < deadline:
            tree = _descendants(reaper.pid)
            if first.exists() and len(_workers(tree)) >= 2:
                break
            time.sleep(0.05)
        assert first.exists() and len(_workers(tree)) >= 2, f"the batch never got going: {tree}"
        if engine == "pool":
            assert any("forkserver" in c for c in tree.values()), tree
        graders = list(tree)  # the pool's or the cluster's processes among them: each names its cgroups
        os.kill(cli, signal.SIGKILL)
        deadline = time.monotonic() + SURVIVOR_WAIT_S
        while (left := _descendants(reaper.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left, f"alive {SURVIVOR_WAIT_S} s after kill -9 of the grade command: {left}"
        assert not result_path(course, ASSIGNMENT, "b_sleeper").exists()
        base = cgroup_bases().get("pids")

        def stale():
            return [p.name for pid in graders for p in Path(base).glob(f"convkit-{pid}-*")] if base else []

        # A pool process removes its cgroups as it dies; a Dask worker is ended by Dask's own watch of its parent
        # first, and the next grading process sweeps them (cgroups._sweep_once).
        if engine == "pool":
            assert not stale(), f"cgroups left behind: {stale()}"
        # A write cut short by a kill leaves a temporary file; the next batch removes it, and grades the rest.
        partial = first.parent / ".partial-cut-short.tmp"
        partial.write_text('{"score": 4')
        rerun = grade_batch(ASSIGNMENT, [], course, workers=2, progress=False, limits=RERUN_LIMITS)
        assert rerun.unchanged == ["a_quick"] and sorted(rerun.graded) == ["b_sleeper", "c_spinner"]
        assert rerun.errors == {} and not list(first.parent.glob(".partial-*"))
        assert not stale(), f"cgroups left behind after the next batch: {stale()}"
    finally:
        for pid in _descendants(reaper.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        reaper.kill()
        reaper.wait()
