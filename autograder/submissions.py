"""Finding submissions: nbgrader's ``submitted/`` folder, loose notebooks, folders of them, and LMS zip exports.

A :class:`Submission` is one student's notebook for one assignment, or the refusal of one (``problem``: a link, a
pipe, a folder named like a notebook, a zip member that cannot be unpacked, ...), which grading turns into that
student's zero result without reading anything. Every notebook found becomes exactly one submission, or a line in
``notes`` that says why not (a second notebook in a student's folder, a link that names no student).

Who is the student:

* nbgrader's ``submitted/<student>/<assignment>/``: the folder name, as it is (the gradebook's student must match);
* in a folder or a zip, a notebook inside a *student folder* belongs to it: a Moodle folder
  (``Jane Doe_12345_assignsubmission_file_``), else the nearest folder that holds ``<assignment>.ipynb`` (or a
  zip of that name) or an ``<assignment>/`` folder (nbgrader's layout); one notebook per student folder is
  graded, the one named after the assignment when there is one;
* any other notebook is its own student, named by its file: the stem without a trailing ``_<assignment>`` (LMS
  exports name files ``<student>_<assignment>.ipynb``), or the name and number of a Moodle file name.

Ids are made from hostile names by :func:`make_student_id` (Unicode letters kept; a hash of the original name
appended whenever a character had to change, so two names never share an id). Two different notebooks that still
claim one id both get a hash of where they were found: an id never depends on the order things are found in.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import unicodedata
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path, PurePath

from autograder.archives import ArchiveError, unpack_zip
from autograder.safe_read import (DIR, FILE, LINK, LINK_REFUSED, MAX_NOTEBOOK_BYTES, OTHER, UNLISTED, UNREADABLE,
                                  SubmissionRefused, kind_refusal, read_submission_bytes, refusal_sha256, shown,
                                  walk_tree)

__all__ = ["Submission", "Sent", "SubmissionError", "SubmissionRefused", "discover", "make_student_id",
           "read_submission_bytes", "MAX_NOTEBOOK_BYTES", "MAX_TIMESTAMP_BYTES", "MAX_ID_CHARS", "ID_HASH_SEP",
           "NOT_A_FOLDER", "TIMESTAMP_REFUSED", "TIMESTAMP_INVALID", "NOTE_NOT_GRADED", "NOTE_LINK",
           "NOTE_NO_NOTEBOOK", "NOTE_UNLISTED", "NOTE_REFUSED_MEMBER"]

MAX_TIMESTAMP_BYTES = 256
MAX_ID_CHARS = 64
ID_HASH_SEP = "~"  # never kept by make_student_id, so an id with it was made unique by a hash

NOT_A_FOLDER = "the assignment folder is not a folder; nothing in it was read"
TIMESTAMP_REFUSED = "timestamp.txt was refused ({reason}); the submission is recorded without a timestamp"
TIMESTAMP_INVALID = "it is not a date and time that nbgrader reads"
NOTE_NOT_GRADED = ("{path}: not graded: {student} is graded on {chosen}, the notebook named after the assignment "
                   "or else the first")
NOTE_LINK = "{path}: a symbolic link; links are never followed"
NOTE_NO_NOTEBOOK = "{path}: no notebook in this assignment folder; nothing to grade"
NOTE_UNLISTED = "{path}: a folder that could not be listed; anything in it is not graded"
NOTE_REFUSED_MEMBER = "{path}: not unpacked: {reason}"

_MOODLE_FOLDER = re.compile(r"(?P<name>.+?)_(?P<number>\d+)_assignsubmission_[a-z]+_?")
_MOODLE_FILE = re.compile(r"(?P<name>.+?)_(?P<number>\d+)_assignsubmission_file_.*")
_KEPT_PUNCTUATION = "_.@-"
# What nbgrader's parse_utc is given: a date, a time, and a zone name or offset (never a path: dateutil opens
# the zone name as a file).
_TIMESTAMP = re.compile(r"[0-9T:.+\- ]+( [A-Za-z_]{1,32}(/[A-Za-z_]{1,32})?| [+-]?\d{1,4})?")


class SubmissionError(ValueError):
    """A path given to ``grade`` that holds no submission, or an unreadable archive."""


@dataclass(frozen=True)
class Submission:
    """One student's notebook for one assignment, or its refusal (``problem``, a constant message)."""

    student: str
    path: Path
    timestamp: str | None = None  # nbgrader's timestamp.txt when the exchange collected it (validated)
    problem: str | None = None  # why it is not read: graded as zero with this reason
    root: Path | None = None  # the trusted folder it was found in: no link is followed below it
    timestamp_problem: str | None = None  # why timestamp.txt was refused (TIMESTAMP_REFUSED)

    def read_bytes(self) -> bytes:
        """The notebook's bytes, bounded, no link followed; raises :class:`SubmissionRefused`."""
        if self.problem:
            raise SubmissionRefused(self.problem)
        return read_submission_bytes(self.path, MAX_NOTEBOOK_BYTES, self.root)

    def sha256(self) -> str:
        """Content hash: a re-run regrades only submissions whose bytes changed (a refusal hashes its reason)."""
        try:
            return hashlib.sha256(self.read_bytes()).hexdigest()
        except SubmissionRefused as exc:
            return refusal_sha256(exc.reason, str(self.path))

    def sent(self) -> dict:
        """What crosses to the process or Dask worker that grades it: plain strings and the notebook's bytes, read
        here once (bounded, no link followed), so a worker on another machine needs no access to the files."""
        try:
            raw, problem = self.read_bytes(), None
        except SubmissionRefused as exc:
            raw, problem = None, exc.reason
        return {"student": self.student, "path": str(self.path), "raw": raw, "problem": problem,
                "timestamp": self.timestamp, "timestamp_problem": self.timestamp_problem}


@dataclass(frozen=True)
class Sent:
    """A submission as a grading process receives it (:meth:`Submission.sent`): what grading reads of a
    :class:`Submission`, with the bytes already read. ``path`` only names the notebook and hashes a refusal."""

    student: str
    path: PurePath
    raw: bytes | None
    problem: str | None = None
    timestamp: str | None = None
    timestamp_problem: str | None = None

    @classmethod
    def from_wire(cls, sent: dict) -> Sent:
        return cls(str(sent["student"]), PurePath(str(sent["path"])), sent["raw"], sent["problem"],
                   sent["timestamp"], sent["timestamp_problem"])

    def read_bytes(self) -> bytes:
        if self.problem or self.raw is None:
            raise SubmissionRefused(self.problem or UNREADABLE)
        return self.raw


@dataclass(frozen=True)
class _Found:
    student: str
    source: str  # where it came from, stable across runs: dedupes and disambiguates
    path: Path
    root: Path
    problem: str | None = None
    verbatim: bool = False  # nbgrader's own folder name: kept as it is
    timestamp: str | None = None
    timestamp_problem: str | None = None


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:10]


def make_student_id(raw: str) -> str:
    """A student id from a hostile name: after NFKC, Unicode letters, marks and digits and ``_.@-`` are kept, any
    other run of characters becomes ``_``, leading ``.-@_`` go, at most MAX_ID_CHARS are kept; when anything
    changed, ``~`` and a hash of the original (NFC) name follow, so different names never share an id."""
    nfc = unicodedata.normalize("NFC", raw)
    text = unicodedata.normalize("NFKC", nfc)
    kept = "".join(c if unicodedata.category(c)[0] in "LMN" or c in _KEPT_PUNCTUATION else "_" for c in text)
    kept = re.sub(r"_{2,}", "_", kept).lstrip("._-@").rstrip("._")[:MAX_ID_CHARS]
    return kept if kept == nfc else f"{kept or 'unnamed'}{ID_HASH_SEP}{_short_hash(nfc)}"


def _folder_name(name: str) -> str:
    moodle = _MOODLE_FOLDER.fullmatch(name)
    return f"{moodle['name']}_{moodle['number']}" if moodle else name


def _stem_name(stem: str, assignment: str) -> str:
    moodle = _MOODLE_FILE.fullmatch(stem)
    if moodle:
        return f"{moodle['name']}_{moodle['number']}"
    suffix = f"_{assignment}"
    return stem[: -len(suffix)] if stem.lower().endswith(suffix.lower()) and len(stem) > len(suffix) else stem


def _lstat_kind(path: Path) -> str | None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError:
        return OTHER
    return LINK if stat.S_ISLNK(mode) else FILE if stat.S_ISREG(mode) else DIR if stat.S_ISDIR(mode) else OTHER


def _read_timestamp(root: Path, path: Path) -> tuple[str | None, str | None]:
    """``(timestamp, refusal)`` of nbgrader's timestamp.txt: read like a notebook (bounded, no link followed), of
    the shape nbgrader's parse_utc reads (a date, a time, a zone name or offset; never a path)."""
    if _lstat_kind(path) is None:
        return None, None
    try:
        text = read_submission_bytes(path, MAX_TIMESTAMP_BYTES, root).decode("utf-8").strip()
    except SubmissionRefused as exc:
        return None, TIMESTAMP_REFUSED.format(reason=exc.reason)
    except UnicodeDecodeError:
        return None, TIMESTAMP_REFUSED.format(reason=TIMESTAMP_INVALID)
    if not _TIMESTAMP.fullmatch(text):  # nbgrader's own parse follows where it is imported (grade._store)
        return None, TIMESTAMP_REFUSED.format(reason=TIMESTAMP_INVALID)
    return text, None


def _nbgrader_submissions(root: Path, assignment: str, notes: list[str]) -> list[_Found]:
    if not root.is_dir():
        return []
    found = []
    for name in sorted(os.listdir(root)):
        student, verbatim = (name, True) if name.isprintable() else (make_student_id(name), False)
        folder, kind = root / name / assignment, _lstat_kind(root / name)
        found_here = _Found(student, f"submitted/{name}", folder / f"{assignment}.ipynb", root, verbatim=verbatim)
        if kind == LINK:
            found.append(replace(found_here, problem=LINK_REFUSED))
            continue
        folder_kind = _lstat_kind(folder) if kind == DIR else None
        if folder_kind is None:
            continue  # a stray file beside the student folders, or a student without this assignment
        if folder_kind != DIR:
            found.append(replace(found_here, problem=LINK_REFUSED if folder_kind == LINK else NOT_A_FOLDER))
            continue
        try:
            notebooks = {n: _lstat_kind(folder / n) for n in os.listdir(folder) if n.lower().endswith(".ipynb")}
        except OSError:
            notes.append(NOTE_UNLISTED.format(path=shown(str(folder))))
            continue
        if not notebooks:
            notes.append(NOTE_NO_NOTEBOOK.format(path=shown(str(folder))))
            continue
        chosen = f"{assignment}.ipynb" if f"{assignment}.ipynb" in notebooks else sorted(notebooks)[0]
        notes += [NOTE_NOT_GRADED.format(path=shown(str(folder / n)), student=shown(student), chosen=shown(chosen))
                  for n in sorted(notebooks) if n != chosen]
        stamp, stamp_problem = _read_timestamp(root, folder / "timestamp.txt")
        # None: gone since the listing; refused as the single-notebook path below refuses it
        found.append(_Found(student, f"submitted/{name}", folder / chosen, root,
                            kind_refusal(notebooks[chosen] or OTHER), verbatim, stamp, stamp_problem))
    return found


@dataclass(frozen=True)
class _Candidate:
    parts: tuple[str, ...]
    problem: str | None
    source: str
    folder_like: bool = False  # a link in the root that is no notebook: it names a student folder


def _folder_like(name: str) -> bool:
    return "." not in name or bool(_MOODLE_FOLDER.fullmatch(name))


def _student_folder(parts: tuple[str, ...], contents: dict, assignment: str) -> tuple[str, ...] | None:
    ancestors = [parts[:i] for i in range(1, len(parts))]
    for folder in ancestors:  # the top-most Moodle folder owns everything in it
        if _MOODLE_FOLDER.fullmatch(folder[-1]):
            return folder
    wanted = {f"{assignment}.ipynb".lower(), f"{assignment}.zip".lower(), assignment.lower()}
    for folder in reversed(ancestors):
        if folder[-1].lower() != assignment.lower() and wanted & contents.get(folder, set()):
            return folder
    return None


def _from_root(root: Path, label: str, source: str, refused: list, assignment: str,
               notes: list[str]) -> list[_Found]:
    """The submissions in a folder (or an unpacked zip: ``refused`` holds its members that were not unpacked).
    ``source`` prefixes each one's stable key: the folder's absolute path, or the archive's (not the cache's,
    whose name holds the archive's content hash)."""
    listing = walk_tree(root)
    candidates = []
    for parts, kind in sorted(listing.items()):
        shown_path = shown(label + "/".join(parts))
        if parts and parts[-1].lower().endswith(".ipynb"):
            candidates.append(_Candidate(parts, kind_refusal(kind), source + "/".join(parts)))
        elif kind == LINK and len(parts) == 1 and _folder_like(parts[0]):
            candidates.append(_Candidate(parts, LINK_REFUSED, source + parts[0], True))
        elif kind == LINK:
            notes.append(NOTE_LINK.format(path=shown_path))
        elif kind == UNLISTED:
            notes.append(NOTE_UNLISTED.format(path=shown_path))
    for parts, reason, member in refused:
        if parts[-1].lower().endswith((".ipynb", ".zip")) or (len(parts) == 1 and _folder_like(parts[0])):
            folder_like = not parts[-1].lower().endswith((".ipynb", ".zip"))
            candidates.append(_Candidate(tuple(parts), reason, f"{source}{member}", folder_like))
        else:
            notes.append(NOTE_REFUSED_MEMBER.format(path=shown(f"{label}{member}"), reason=reason))
    contents: dict[tuple[str, ...], set[str]] = {}
    for parts in [*listing, *(c.parts for c in candidates)]:
        for i in range(1, len(parts)):
            contents.setdefault(parts[:i], set()).add(parts[i].lower())
    groups: dict[tuple, tuple[str, list[_Candidate]]] = {}
    for c in candidates:
        folder = None if c.folder_like else _student_folder(c.parts, contents, assignment)
        if c.folder_like or folder:
            key, raw = ("folder", *(folder or c.parts)), _folder_name((folder or c.parts)[-1])
        else:
            key, raw = ("file", c.source), _stem_name(c.parts[-1].rsplit(".", 1)[0], assignment)
        groups.setdefault(key, (raw, []))[1].append(c)
    found = []
    for raw, members in groups.values():
        members.sort(key=lambda c: (not c.parts[-1].lower().endswith(".ipynb"),
                                    c.parts[-1].lower() != f"{assignment}.ipynb".lower(), len(c.parts), c.parts))
        chosen, student = members[0], make_student_id(raw)
        notes += [NOTE_NOT_GRADED.format(path=shown(label + "/".join(c.parts)), student=shown(student),
                                         chosen=shown("/".join(chosen.parts))) for c in members[1:]]
        found.append(_Found(student, chosen.source, root.joinpath(*chosen.parts), root, chosen.problem))
    return found


def _unique(found: list[_Found]) -> list[Submission]:
    """One submission per notebook (one reached twice, as a folder's and as a named file, counts once), each
    under an id no other has: nbgrader's folder names stay; any other id that two notebooks claim gets a hash of
    its source on both (so neither id depends on which was found first)."""
    by_source: dict[str, _Found] = {}
    for f in found:
        if f.source not in by_source or f.student < by_source[f.source].student:
            by_source[f.source] = f
    claims = Counter(f.student for f in by_source.values())
    taken = {f.student for f in by_source.values() if f.verbatim}
    ids = {}
    for source in sorted(by_source):
        f = by_source[source]
        sid = f.student
        if not f.verbatim:
            if claims[sid] > 1 or sid in taken:
                sid = f"{sid}{ID_HASH_SEP}{_short_hash(source)}"
            while sid in taken:  # only a name crafted to equal another's hashed id gets here
                sid = f"{sid}{ID_HASH_SEP}{_short_hash(sid + source)}"
            taken.add(sid)
        ids[source] = sid
    seen, out = set(), []
    for f in found:
        if f.source in seen:
            continue
        seen.add(f.source)
        f = by_source[f.source]
        out.append(Submission(ids[f.source], f.path, f.timestamp, f.problem, f.root, f.timestamp_problem))
    return out


def discover(assignment: str, paths: list[Path], course, cache: Path,
             notes: list[str] | None = None) -> list[Submission]:
    """Every submission of ``assignment`` under ``paths`` (or the ``submitted/`` folder of ``course``, a path or a
    :class:`~autograder.course.Course`, when empty).

    A folder named in ``paths`` is trusted as it is; nothing below it is followed if it is a link. ``notes``
    (when given) receives a line for every notebook found that is not a submission, and why. Raises
    :class:`SubmissionError` for a path that does not exist, is neither a notebook, a folder nor a zip, or is a
    zip that cannot be read as a whole.
    """
    notes = [] if notes is None else notes
    if not paths:
        from autograder.course import as_course

        return _unique(_nbgrader_submissions(as_course(course).submitted, assignment, notes))
    found: list[_Found] = []
    for path in map(Path, paths):
        if not os.path.lexists(path):
            raise SubmissionError(f"{path}: no such file or folder")
        if path.is_dir():
            found += _from_root(path, f"{path}/", os.path.abspath(path) + os.sep, [], assignment, notes)
        elif path.suffix.lower() == ".zip":
            try:
                files, refused = unpack_zip(path, Path(cache))
            except ArchiveError as exc:
                raise SubmissionError(str(exc)) from None
            found += _from_root(files, f"{path}!", f"{os.path.abspath(path)}!", refused, assignment, notes)
        elif path.suffix.lower() == ".ipynb":
            student = make_student_id(_stem_name(path.name[: -len(".ipynb")], assignment))
            found.append(_Found(student, os.path.abspath(path), path, path.parent,
                                kind_refusal(_lstat_kind(path) or OTHER)))
        else:
            raise SubmissionError(f"{path}: expected a .ipynb notebook, a folder of them or a .zip export")
    return _unique(found)
