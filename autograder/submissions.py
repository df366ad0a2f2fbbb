"""Finding submissions: nbgrader's ``submitted/`` folder, loose notebooks, folders of them, and LMS zip exports.

A :class:`Submission` is one student's notebook for one assignment. The student id comes from nbgrader's folder
(``submitted/<student>/<assignment>/``), else from the file name: the stem, without a trailing ``_<assignment>``
(LMS exports name files ``<student>_<assignment>.ipynb``). Zip files are unpacked, member by member with checked
paths (no ``..``, no absolute names, size caps), into a cache folder beside the results.
"""
from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Submission", "SubmissionError", "discover", "MAX_NOTEBOOK_BYTES"]

# A notebook larger than this is not read: a student's CNN notebook with pictures is ~1-5 MB.
MAX_NOTEBOOK_BYTES = 50 << 20
_MAX_ZIP_TOTAL_BYTES = 2 << 30
_SAFE_ID = re.compile(r"[^A-Za-z0-9_.@-]+")


class SubmissionError(ValueError):
    """A path given to ``grade`` that holds no submission, or an unreadable archive."""


@dataclass(frozen=True)
class Submission:
    """One student's notebook for one assignment."""

    student: str
    path: Path
    timestamp: str | None = None  # nbgrader's timestamp.txt when the exchange collected it

    def sha256(self) -> str:
        """Content hash: a re-run regrades only submissions whose bytes changed."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def _student_id(raw: str, assignment: str) -> str:
    stem = raw[: -len(assignment) - 1] if raw.endswith(f"_{assignment}") and len(raw) > len(assignment) + 1 else raw
    student = _SAFE_ID.sub("_", stem).strip("._") or "unnamed"
    return student


def _nbgrader_submissions(course: Path, assignment: str) -> list[Submission]:
    root = course / "submitted"
    found = []
    for folder in sorted(root.glob(f"*/{assignment}")) if root.is_dir() else []:
        notebooks = sorted(folder.glob("*.ipynb"))
        if not notebooks:
            continue
        stamp_file = folder / "timestamp.txt"
        stamp = stamp_file.read_text().strip() if stamp_file.is_file() else None
        found.append(Submission(folder.parent.name, _pick_notebook(notebooks, assignment), stamp))
    return found


def _pick_notebook(notebooks: list[Path], assignment: str) -> Path:
    for nb in notebooks:
        if nb.stem == assignment:
            return nb
    return notebooks[0]


def _unzip(archive: Path, cache: Path) -> Path:
    dest = cache / (archive.stem + "-" + hashlib.sha256(archive.read_bytes()).hexdigest()[:12])
    if dest.is_dir():
        return dest
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            if sum(m.file_size for m in members) > _MAX_ZIP_TOTAL_BYTES:
                raise SubmissionError(f"{archive}: the archive unpacks to more than {_MAX_ZIP_TOTAL_BYTES >> 20} MiB")
            tmp = dest.with_name(dest.name + ".partial")
            for m in members:
                name = Path(m.filename)
                if name.is_absolute() or ".." in name.parts:
                    raise SubmissionError(f"{archive}: unsafe member path {m.filename!r}")
                if name.suffix != ".ipynb" or m.file_size > MAX_NOTEBOOK_BYTES or name.parts[0] == "__MACOSX":
                    continue
                target = tmp / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(zf.read(m))
            tmp.mkdir(parents=True, exist_ok=True)
            tmp.rename(dest)
    except zipfile.BadZipFile as exc:
        raise SubmissionError(f"{archive}: not a readable zip file ({exc})") from exc
    return dest


def _from_folder(folder: Path, assignment: str) -> list[Submission]:
    # nbgrader-like layout inside the folder: <student>/<assignment>/*.ipynb, else every notebook by its name.
    nested = sorted(folder.glob(f"*/{assignment}/*.ipynb"))
    if nested:
        by_student: dict[str, list[Path]] = {}
        for nb in nested:
            by_student.setdefault(nb.parent.parent.name, []).append(nb)
        return [Submission(_student_id(s, assignment), _pick_notebook(nbs, assignment)) for s, nbs in by_student.items()]
    return [Submission(_student_id(nb.stem, assignment), nb) for nb in sorted(folder.rglob("*.ipynb"))
            if ".ipynb_checkpoints" not in nb.parts]


def discover(assignment: str, paths: list[Path], course: Path, cache: Path) -> list[Submission]:
    """Every submission of ``assignment`` under ``paths`` (or the course's ``submitted/`` folder when empty).

    Raises :class:`SubmissionError` for a path that does not exist or is neither a notebook, a folder nor a zip.
    When two submissions claim the same student id, the later path gets a ``-2``, ``-3`` ... suffix rather than
    overwriting a result.
    """
    if not paths:
        found = _nbgrader_submissions(course, assignment)
    else:
        found = []
        for path in map(Path, paths):
            if not path.exists():
                raise SubmissionError(f"{path}: no such file or folder")
            if path.is_dir():
                found += _from_folder(path, assignment)
            elif path.suffix == ".zip":
                found += _from_folder(_unzip(path, cache), assignment)
            elif path.suffix == ".ipynb":
                found.append(Submission(_student_id(path.stem, assignment), path))
            else:
                raise SubmissionError(f"{path}: expected a .ipynb notebook, a folder of them or a .zip export")
    seen: dict[str, int] = {}
    unique = []
    for sub in found:
        n = seen.get(sub.student, 0) + 1
        seen[sub.student] = n
        unique.append(sub if n == 1 else Submission(f"{sub.student}-{n}", sub.path, sub.timestamp))
    return unique
