"""Unpacking an LMS zip export, member by member, into a cache folder beside the results.

Only notebooks are unpacked. A member that cannot be unpacked safely is not a reason to stop: it is *refused*, with a
constant reason (a link, not a regular file, too big, encrypted, an unknown compression method, damaged, a zip
inside the zip, a path that leaves the archive or that another member claims), and the caller turns it into that
student's result. Only an archive that is not a readable zip at all, or one too large to unpack, is an error of the
whole archive. The refusals are kept in ``refused.json`` beside the unpacked files, so a re-run that finds the
archive already unpacked (same content hash) knows them too.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from autograder.safe_read import LINK_REFUSED, MAX_NOTEBOOK_BYTES, NOT_REGULAR_FILE, too_big

__all__ = ["unpack_zip", "ArchiveError", "ZIP_ENCRYPTED", "ZIP_COMPRESSION", "ZIP_DAMAGED", "ZIP_NESTED",
           "ZIP_UNSAFE_PATH", "ZIP_PATH_CLASH", "MAX_ZIP_TOTAL_BYTES", "MAX_ZIP_MEMBERS"]

ZIP_ENCRYPTED = "the archive member is encrypted; it cannot be read"
ZIP_COMPRESSION = "the archive member uses a compression method this grader cannot read"
ZIP_DAMAGED = "the archive member is damaged (its data does not unpack, or does not match its checksum)"
ZIP_NESTED = "the archive member is itself a zip file; archives inside archives are not unpacked: submit the notebook"
ZIP_UNSAFE_PATH = "the archive member's path leaves the archive (an absolute path or '..'); it was not unpacked"
ZIP_PATH_CLASH = ("the archive member cannot be unpacked at its path (another member claims it, or a name in it is "
                  "too long)")

MAX_ZIP_TOTAL_BYTES = 2 << 30
MAX_ZIP_MEMBERS = 100_000
_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_JUNK = {"__MACOSX", ".ipynb_checkpoints"}
_CHUNK = 1 << 20


class ArchiveError(ValueError):
    """The archive as a whole cannot be unpacked (not a zip, or too large)."""


def _member_parts(name: str) -> tuple[str, ...] | None:
    """The member's relative path parts, or None when it would land outside the folder it is unpacked into."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or "\0" in name:
        return None
    parts = tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))
    return None if not parts or ".." in parts else parts


def _refusal(m: zipfile.ZipInfo, parts: tuple[str, ...]) -> str | None:
    kind = stat.S_IFMT(m.external_attr >> 16)  # unix mode bits; 0 from tools that record none
    if kind == stat.S_IFLNK:
        return LINK_REFUSED
    if kind not in (0, stat.S_IFREG):
        return NOT_REGULAR_FILE
    if parts[-1].lower().endswith(".zip"):
        return ZIP_NESTED
    if m.flag_bits & 0x1:
        return ZIP_ENCRYPTED
    if m.compress_type not in _METHODS:
        return ZIP_COMPRESSION
    if m.file_size > MAX_NOTEBOOK_BYTES:
        return too_big(MAX_NOTEBOOK_BYTES)
    return None


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _extract(zf: zipfile.ZipFile, m: zipfile.ZipInfo, target: Path) -> str | None:
    """Unpack one member to ``target``; the refusal reason when it cannot be."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        out = open(target, "xb")  # noqa: SIM115  (closed by the with below; opened apart: here OSError = a clash)
    except OSError:  # a file where a folder should be, or the path taken: two members claim it
        return ZIP_PATH_CLASH
    try:
        with out, zf.open(m) as src:
            written = 0
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                if written > m.file_size:  # the data is not what the header claims (zipfile stops there too)
                    raise zipfile.BadZipFile
                out.write(chunk)
        return None
    except NotImplementedError:
        reason = ZIP_COMPRESSION
    except Exception:  # noqa: BLE001  any failure to decompress untrusted data is that member's problem
        reason = ZIP_DAMAGED
    target.unlink(missing_ok=True)
    return reason


def unpack_zip(archive: Path, cache: Path) -> tuple[Path, list[tuple[tuple[str, ...], str, str]]]:
    """Unpack ``archive``'s notebooks under ``cache``; returns the folder of unpacked files and the refused
    members as ``(relative parts, reason, member name)``, the parts being where the member would have landed (its
    last name alone when its path leaves the archive). Raises :class:`ArchiveError` naming the archive."""
    digest = _file_sha256(archive)
    dest = cache / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', archive.stem)[:40]}-{digest[:16]}"
    manifest = dest / "refused.json"
    if manifest.is_file():
        found = json.loads(manifest.read_text())
        return dest / "files", [(tuple(parts), reason, name) for parts, reason, name in found]
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        raise ArchiveError(f"{archive}: not a readable zip file") from None
    refused: dict[tuple[str, ...], tuple[str, str]] = {}
    unsafe: list[tuple[tuple[str, ...], str, str]] = []
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    with zf:
        members = zf.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise ArchiveError(f"{archive}: more than {MAX_ZIP_MEMBERS} members")
        wanted: dict[tuple[str, ...], zipfile.ZipInfo] = {}
        for m in members:
            parts = _member_parts(m.filename)
            if parts is None:
                leaf = re.split(r"[/\\]", m.filename.rstrip("/\\"))[-1].replace("\0", "") or "unnamed"
                unsafe.append(((leaf,), ZIP_UNSAFE_PATH, m.filename))
                continue
            if _JUNK & set(parts) or parts[-1].startswith("._"):
                continue
            if m.is_dir():
                if parts[-1].lower().endswith(".ipynb"):  # unpacked as the folder it is: discovery refuses it
                    try:
                        (tmp / "files" / Path(*parts)).mkdir(parents=True, exist_ok=True)
                    except OSError:
                        refused[parts] = (ZIP_PATH_CLASH, m.filename)
                continue
            is_link = stat.S_IFMT(m.external_attr >> 16) == stat.S_IFLNK
            if not parts[-1].lower().endswith((".ipynb", ".zip")) and not is_link:
                continue
            if parts in wanted or parts in refused:
                refused[parts] = (ZIP_PATH_CLASH, m.filename)
                wanted.pop(parts, None)
                continue
            reason = _refusal(m, parts)
            if reason:
                refused[parts] = (reason, m.filename)
            else:
                wanted[parts] = m
        if sum(m.file_size for m in wanted.values()) > MAX_ZIP_TOTAL_BYTES:
            raise ArchiveError(f"{archive}: its notebooks unpack to more than {MAX_ZIP_TOTAL_BYTES >> 20} MiB")
        (tmp / "files").mkdir(parents=True, exist_ok=True)
        for parts, m in sorted(wanted.items()):
            reason = _extract(zf, m, tmp / "files" / Path(*parts))
            if reason:
                refused[parts] = (reason, m.filename)
    found = unsafe + [(parts, reason, name) for parts, (reason, name) in sorted(refused.items())]
    (tmp / "refused.json").write_text(json.dumps(found))
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest / "files", found
