"""Submission notebooks made from the real release (honest, partial, hostile and mistaken) and the one big batch
that grades them.

The notebooks come from the package's factory (:mod:`autograder.factory`), bound to the ``layers`` course in
:mod:`tests.support.layers_course` (honest and mistaken work, expected scores, courses); the attacks are
:mod:`tests.support.hostile_catalogue`. This module re-exports both, so tests import from one place, and adds what
only the batch needs: the observation of the machine around it (processes, gradebook, files) and :func:`layers_batch`.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from autograder.results import read_result, result_path
from tests.support.hostile_catalogue import (DAEMON_DELAY_S, FORK_BOMB_TRIES, HOSTILE, MEMORY_BOMB_BLOCKS, Context,
                                            Hostile)
from tests.support.layers_course import (ASSIGNMENT, BATCH_LIMITS, HONEST, MISTAKES, REPO, SOURCE_ROOT, TWIN_PREFIX,
                                        WORKERS, HonestSubmission, MistakeSubmission, _cell, check_case_by_case,
                                        delete_cells, expected_score, fresh_course, guarded_body, honest_body,
                                        honest_notebook, insert_cell, lost_cases, mistake_expected,
                                        pristine_course, released_notebook, replace_body, with_stubs,
                                        write_submission)

__all__ = ["ASSIGNMENT", "BATCH_LIMITS", "HOSTILE", "MISTAKES", "HONEST", "Hostile", "MistakeSubmission",
           "HonestSubmission", "Context", "BatchRun", "pristine_course", "fresh_course", "honest_notebook",
           "with_stubs", "replace_body", "expected_score", "lost_cases", "check_case_by_case", "write_submission",
           "layers_batch", "procs_with", "gradebook_scores", "course_listing", "REPO", "SOURCE_ROOT", "TWIN_PREFIX",
           "WORKERS", "DAEMON_DELAY_S", "FORK_BOMB_TRIES", "MEMORY_BOMB_BLOCKS", "_cell", "delete_cells",
           "guarded_body", "honest_body", "insert_cell", "mistake_expected", "released_notebook", "sqlite_tables",
           "results_of"]

_CACHE: dict = {}


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
