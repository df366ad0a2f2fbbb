"""Reading what a student submitted, as hostile data: links never followed, only regular files, a cap before the read.

Every byte the grader takes from a submission (the notebook, its content hash, nbgrader's ``timestamp.txt``) comes
through :func:`read_submission_bytes`. It opens each path component below a trusted root with ``O_NOFOLLOW`` (a
linked folder is refused, not just a linked file), opens the file itself non-blocking (a FIFO named like a notebook
cannot hang the batch), checks ``S_ISREG`` and the size on the open descriptor (no swap between check and read),
and reads at most ``cap + 1`` bytes. A refusal is a :class:`SubmissionRefused` whose ``reason`` is one of the
constant messages below: it names the problem, never the file's content.
"""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

__all__ = ["SubmissionRefused", "read_submission_bytes", "refusal_sha256", "walk_tree", "shown", "kind_refusal",
           "too_big", "MAX_NOTEBOOK_BYTES", "LINK_REFUSED", "NOT_REGULAR_FILE", "TOO_BIG", "UNREADABLE", "VANISHED",
           "NOT_UTF8", "NOT_JSON", "NOT_A_NOTEBOOK", "FILE", "DIR", "LINK", "OTHER", "UNLISTED"]

# A notebook larger than this is not read: a student's CNN notebook with pictures is ~1-5 MB.
MAX_NOTEBOOK_BYTES = 50 << 20

LINK_REFUSED = "the submission is a symbolic link (or lies in a linked folder); links are never followed"
NOT_REGULAR_FILE = ("the submission is not a regular file (a folder, a pipe, a device or a socket); "
                    "only regular files are read")
TOO_BIG = "the file is larger than the {cap} cap; it was not read"
UNREADABLE = "the file could not be opened (permission denied or an I/O error)"
VANISHED = "the file was no longer there when it was to be read"
NOT_UTF8 = "the notebook is not UTF-8 text"
NOT_JSON = "the notebook is not valid JSON"
NOT_A_NOTEBOOK = "the file is not a Jupyter notebook (nbformat 4 JSON with cells and metadata)"

# Entry kinds of walk_tree, from lstat: a link is a link whatever it points at. UNLISTED: a folder that could not
# be listed (no permission).
FILE, DIR, LINK, OTHER, UNLISTED = "file", "dir", "link", "other", "unlisted"

_CHUNK = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
# Folders that hold no submission: Jupyter's autosaves and macOS zip metadata.
_JUNK_DIRS = {".ipynb_checkpoints", "__MACOSX"}


class SubmissionRefused(Exception):
    """A submitted file that is not read; ``reason`` is a constant message naming the problem."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def too_big(cap: int) -> str:
    """TOO_BIG for this cap."""
    return TOO_BIG.format(cap=f"{cap >> 20} MiB" if cap >= 1 << 20 else f"{cap} bytes")


def kind_refusal(kind: str) -> str | None:
    """The refusal for an entry of this kind where a file is wanted (None for a regular file)."""
    return {FILE: None, LINK: LINK_REFUSED}.get(kind, NOT_REGULAR_FILE)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return LINK
    return FILE if stat.S_ISREG(mode) else DIR if stat.S_ISDIR(mode) else OTHER


def _refusal_at(dir_fd: int, name: str, want_dir: bool) -> str:
    try:
        kind = _kind(os.lstat(name, dir_fd=dir_fd).st_mode)
    except FileNotFoundError:
        return VANISHED
    except OSError:
        return UNREADABLE
    if kind == (DIR if want_dir else FILE):
        return UNREADABLE
    return LINK_REFUSED if kind == LINK else NOT_REGULAR_FILE


def _open_below(dir_fd: int, name: str, want_dir: bool) -> int:
    # lstat first, so that a device or a FIFO is never even opened; O_NOFOLLOW then closes the window in which
    # the entry could be swapped for a link (the open fails, and the second lstat names what is there now).
    try:
        if _kind(os.lstat(name, dir_fd=dir_fd).st_mode) == (DIR if want_dir else FILE):
            return os.open(name, _DIR_FLAGS if want_dir else _FILE_FLAGS, dir_fd=dir_fd)
    except OSError:
        pass
    raise SubmissionRefused(_refusal_at(dir_fd, name, want_dir))


def read_submission_bytes(path: Path, cap: int = MAX_NOTEBOOK_BYTES, root: Path | None = None) -> bytes:
    """The bytes of the regular file ``path``, at most ``cap`` of them, no link followed at or below ``root``.

    ``root`` (default: the file's own folder) is trusted, as the instructor named it; every component from there
    down must be a real folder and the last a regular file. Raises :class:`SubmissionRefused`.
    """
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    parts = path.relative_to(root).parts
    if not parts:
        raise SubmissionRefused(NOT_REGULAR_FILE)
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise SubmissionRefused(VANISHED) from None
    except OSError:
        raise SubmissionRefused(UNREADABLE) from None
    try:
        for i, part in enumerate(parts):
            child = _open_below(fd, part, want_dir=i < len(parts) - 1)
            os.close(fd)
            fd = child
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SubmissionRefused(NOT_REGULAR_FILE)
        if info.st_size > cap:
            raise SubmissionRefused(too_big(cap))
        chunks, size = [], 0
        while size <= cap:  # the file may grow after fstat: the cap holds on what is read, too
            chunk = os.read(fd, min(_CHUNK, cap + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > cap:
            raise SubmissionRefused(too_big(cap))
        return b"".join(chunks)
    except OSError:
        raise SubmissionRefused(UNREADABLE) from None
    finally:
        os.close(fd)


def refusal_sha256(reason: str, where: str) -> str:
    """The content hash recorded for a refused submission: stable, so a re-run skips it until it changes."""
    return hashlib.sha256(f"refused\0{reason}\0{where}".encode("utf-8", "surrogateescape")).hexdigest()


def walk_tree(root: Path) -> dict[tuple[str, ...], str]:
    """``{relative parts: kind}`` of every entry under ``root``, from lstat, never entering a link, a junk folder
    or a folder named like a notebook (that one is itself the submission, and not a file). An unreadable folder
    is listed as UNLISTED."""
    listing: dict[tuple[str, ...], str] = {}
    stack: list[tuple[str, ...]] = [()]
    while stack:  # a loop, not recursion: a hostile tree may be thousands of folders deep
        rel = stack.pop()
        try:
            with os.scandir(root.joinpath(*rel)) as it:
                entries = list(it)
        except OSError:
            listing[rel] = UNLISTED
            continue
        for entry in entries:
            name, parts = entry.name, rel + (entry.name,)
            if name in _JUNK_DIRS or name.startswith("._"):
                continue
            try:
                kind = _kind(entry.stat(follow_symlinks=False).st_mode)
            except OSError:
                kind = OTHER
            listing[parts] = kind
            if kind == DIR and not name.lower().endswith(".ipynb"):
                stack.append(parts)
    return listing


def shown(text: str, limit: int = 160) -> str:
    """``text`` (a hostile name) fit for a terminal line: unprintable characters as ``?``, bounded."""
    out = "".join(c if c.isprintable() else "?" for c in text)
    return out if len(out) <= limit else out[: limit - 3] + "..."
