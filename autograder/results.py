"""Result files: ``DIR/results/<assignment>/<student>.json`` in Gradescope's results.json schema.

A file holds one :class:`~autograder.outcomes.Result` (written by :func:`write_result`, read back validated by
:func:`load_result`; autograder.outcomes is the one codec of the schema). The file is named by the student id when
that is a plain, short name, else by :func:`result_name` (a bounded prefix and a hash of the id); the id itself is
always in ``extra_data["student"]``.

Each file is written atomically (a temporary file, then ``os.replace``) as soon as its submission is graded, so an
interrupted batch keeps every finished result and never leaves half a file. ``extra_data`` records what a re-run
needs to decide whether the result is still current: the submission's content hash and the grader's fingerprint
(a hash of the suites, the reference and the comparison code).
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import tempfile
from functools import lru_cache
from pathlib import Path

# The typed results and their codec (autograder.outcomes), importable from here too: a result file holds one.
from autograder.outcomes import (GRADESCOPE_HIDDEN, RESULT_TEXT_CAP, CaseOutcome, CellError, LoadReport, Result,
                                 SandboxLoad, Status, Visibility, claims, diagnoses_of)
from autograder.safe_text import MAX_RESULT_BYTES, RESULT_TOO_BIG, RESULT_UNREADABLE, safe_line

__all__ = ["Status", "Visibility", "CaseOutcome", "CellError", "SandboxLoad", "LoadReport", "Result", "diagnoses_of",
           "GRADESCOPE_HIDDEN", "RESULT_TEXT_CAP", "load_result", "student_of", "result_path", "result_name",
           "MAX_RESULT_NAME_BYTES", "write_result", "remove_partials", "read_result", "is_current",
           "grader_fingerprint"]

# A student id is the file's name when it is plain and short; any other id gets a bounded name with a hash of it
# (never itself plain: plain names cannot end in the hash form), so two ids never share a result file.
MAX_RESULT_NAME_BYTES = 128
_PLAIN = re.compile(r"[^\W][\w.@~+-]*")
_HASHED = re.compile(r".*\.[0-9a-f]{16}")
_PARTIAL_PREFIX = ".partial-"


def result_name(student: str) -> str:
    """The result file's stem for ``student``: the id itself when plain (Unicode word characters and ``.@~+-``, no
    leading dot or dash, at most MAX_RESULT_NAME_BYTES in UTF-8), else its first characters and a hash."""
    try:
        size = len(student.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate from a name that was not UTF-8
        size = MAX_RESULT_NAME_BYTES + 1
    if size <= MAX_RESULT_NAME_BYTES and _PLAIN.fullmatch(student) and not _HASHED.fullmatch(student):
        return student
    prefix = re.sub(r"[^A-Za-z0-9_-]+", "_", student)[:40].lstrip("_-") or "student"
    return f"{prefix}.{hashlib.sha256(student.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"


def result_path(course, assignment: str, student: str) -> Path:
    """``results/<assignment>/<name>.json`` of ``course`` (a path or a :class:`~autograder.course.Course`)."""
    from autograder.course import as_course

    return as_course(course).results_dir(assignment) / f"{result_name(student)}.json"


def write_result(path: Path, result: Result | dict) -> None:
    """Write ``result`` to ``path`` atomically (readers see the old file or the new one, never a partial one); a
    dict is written as it is (Gradescope's message for an upload with no notebook has no Result)."""
    if isinstance(result, Result):
        result = result.to_json()
    path.parent.mkdir(parents=True, exist_ok=True)
    # A fixed prefix: one made from the file's name would push a long one past the file system's name limit.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_PARTIAL_PREFIX, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(result, fh, indent=1, sort_keys=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_partials(folder: Path) -> list[str]:
    """Remove what :func:`write_result` leaves when killed between its temporary file and the rename (the names of
    the removed files). Call it only while holding the course's grading lock: no other writer is at work then."""
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(folder):
            if entry.name.startswith(_PARTIAL_PREFIX) and entry.name.endswith(".tmp"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(entry.name)
    return removed


def read_result(path: Path) -> dict | None:
    """The result at ``path``, or None when there is none or it cannot be parsed."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def load_result(path: Path, student: str, assignment: str, *, roots=None) -> Result:
    """The result in ``path`` (:meth:`Result.from_json`), its size capped before the read; raises ``ValueError``
    naming the problem when the file is too big, not JSON, or not an object."""
    path = Path(path)
    try:
        size = path.stat().st_size
        raw = None if size > MAX_RESULT_BYTES else json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise ValueError(RESULT_UNREADABLE.format(reason=f"{type(exc).__name__}: {safe_line(exc, 200)}")) from None
    if raw is None and size > MAX_RESULT_BYTES:
        raise ValueError(RESULT_TOO_BIG.format(size=size, cap=MAX_RESULT_BYTES))
    return Result.from_json(raw, student, assignment, roots=roots)


def student_of(path: Path, result: dict | None = None) -> str:
    """The student a result file belongs to: the id the result names when that id's file name is this file's (so a
    file cannot claim another student's page), else the file's stem. Hashed file names (long or unusual ids, see
    :func:`result_name`) map back to their id this way."""
    if result is None:
        result = read_result(path) if path.is_file() and path.stat().st_size <= 20 << 20 else None
    claimed = claims(result).get("student")
    if isinstance(claimed, str) and result_name(claimed) == path.stem:
        return claimed
    return path.stem


# What decides a score: the reference, the suites, the mistakes, the comparison code and the grading flow.
_SCORING_MODULES = ("reference", "autograder.suites", "autograder.mistakes", "autograder.mistake_variants",
                    "autograder.capstone", "autograder.outcomes", "autograder.student.convkit_check",
                    "autograder.grading")


def _scoring_files() -> list[tuple[str, Path]]:
    """(name inside the installation, file) of every source file of :data:`_SCORING_MODULES`, wherever this
    installation imports them from (a wheel's site-packages or a checkout): the same content hashes the same."""
    files: list[tuple[str, Path]] = []
    for module in _SCORING_MODULES:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:  # not installed, or a namespace package: nothing to hash
            raise RuntimeError(f"{module} decides scores but has no source file here to fingerprint")
        origin = Path(spec.origin)
        prefix = module.replace(".", "/")
        if spec.submodule_search_locations:  # a package: every module in it
            files += [(f"{prefix}/{f.relative_to(origin.parent).as_posix()}", f) for f in origin.parent.rglob("*.py")]
        else:
            files.append((f"{prefix}.py", origin))
    return sorted(files)


@lru_cache(maxsize=1)
def grader_fingerprint() -> str:
    """A hash of every source file that decides a score: a change to any of them makes old results stale."""
    digest = hashlib.sha256()
    for name, f in _scoring_files():
        digest.update(name.encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def is_current(path: Path, submission_sha256: str) -> bool:
    """Is there a finished result for exactly this submission content, from this grader?"""
    claimed = claims(read_result(path))
    # "recorded": the gradebook holds this result's scores; a result whose gradebook write failed is graded again.
    return (claimed.get("submission_sha256") == submission_sha256 and claimed.get("grader") == grader_fingerprint()
            and claimed.get("recorded") is True)
