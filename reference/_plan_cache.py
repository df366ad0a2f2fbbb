"""The autotuner's optional disk cache: plans kept in one JSON file across processes (off unless asked for).

``CONVKIT_AUTOTUNE_CACHE`` names the file (``default``: ``$XDG_CACHE_HOME/convkit/plans.json``, else
``~/.cache/convkit/plans.json``); unset, empty or ``0``: no file is read or written. Plans are filed under a
fingerprint of the machine and its BLAS setting (CPU model, ``OPENBLAS_CORETYPE``, NumPy version), so a file
carried to another CPU, or read with another kernel family forced, never supplies that CPU's choice.

The file is data from outside the process and is read defensively: only a regular file (not a link), at most
:data:`MAX_BYTES`, valid JSON of exactly the expected layout, keys and names of bounded length. Anything else is
ignored as a whole with one :class:`PlanCacheWarning` naming the problem (never its content), and the next plan
made replaces the file. A name read from the file is used only if it is one of the call's own candidates
(:func:`reference._autotune.choose`). Writes go to a temporary file moved into place, so a reader never sees half
a file.
"""
from __future__ import annotations

import contextlib
import json
import os
import platform
import stat
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np

__all__ = []  # private module

ENV_CACHE = "CONVKIT_AUTOTUNE_CACHE"
VERSION = 1
MAX_BYTES = 1 << 20
MAX_PLANS = 4096
MAX_TEXT = 200
REFUSED = "convkit autotune cache {path} ignored: {why}"


class PlanCacheWarning(UserWarning):
    """The disk cache could not be used (it is then ignored; computing goes on)."""


_LOCK = threading.Lock()
_LOADED: dict[str, tuple[float, dict[str, str]]] = {}  # path -> (mtime read, this machine's plans)


def path() -> Path | None:
    """The cache file named by ``CONVKIT_AUTOTUNE_CACHE``, or None when the disk cache is off."""
    value = os.environ.get(ENV_CACHE, "").strip()
    if value in ("", "0"):
        return None
    if value == "default":
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "convkit" / "plans.json"
    return Path(value)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fingerprint() -> str:
    """What a plan depends on besides the problem: the CPU, the BLAS kernel family forced (if any), NumPy."""
    core = os.environ.get("OPENBLAS_CORETYPE", "auto")
    return f"{_cpu_model()}|{platform.machine()}|openblas={core}|numpy={np.__version__}"[:MAX_TEXT]


def _refuse(where: Path, why: str) -> dict:
    warnings.warn(REFUSED.format(path=where, why=why), PlanCacheWarning, stacklevel=4)
    return {}


def _read(where: Path) -> dict:
    """Every machine's plans in the file, ``{fingerprint: {key: name}}``; {} for no file or a refused one."""
    try:
        info = os.lstat(where)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError as e:
        return _refuse(where, f"cannot stat it ({type(e).__name__})")
    if not stat.S_ISREG(info.st_mode):
        return _refuse(where, "not a regular file (a link, a folder or a device)")
    if info.st_size > MAX_BYTES:
        return _refuse(where, f"larger than {MAX_BYTES} bytes")
    try:
        fd = os.open(where, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
        data = json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        return _refuse(where, f"unreadable or not JSON ({type(e).__name__})")
    if not _valid(data):
        return _refuse(where, f"not a version-{VERSION} plan file")
    return data["plans"]


def _valid(data) -> bool:
    if not isinstance(data, dict) or set(data) != {"version", "plans"} or data["version"] != VERSION:
        return False
    machines = data["plans"]
    if not isinstance(machines, dict) or len(machines) > 64:
        return False
    count = 0
    for fp, table in machines.items():
        if not isinstance(fp, str) or len(fp) > MAX_TEXT or not isinstance(table, dict):
            return False
        count += len(table)
        if count > MAX_PLANS:
            return False
        for key, name in table.items():
            if not (isinstance(key, str) and isinstance(name, str) and len(key) <= MAX_TEXT and len(name) <= 40):
                return False
    return True


def _mtime(where: Path) -> float:
    try:
        return os.lstat(where).st_mtime
    except OSError:
        return -1.0


def lookup(key: str) -> str | None:
    """The plan for ``key`` on this machine from the disk cache, or None (no cache, no entry, a refused file)."""
    where = path()
    if where is None:
        return None
    with _LOCK:
        mtime = _mtime(where)
        seen = _LOADED.get(str(where))
        if seen is None or seen[0] != mtime:
            table = _read(where).get(fingerprint(), {})
            seen = _LOADED[str(where)] = (mtime, table)
    return seen[1].get(key)


def store(key: str, name: str) -> None:
    """Add ``key -> name`` for this machine to the disk cache (merged with what is there); a failure to write only
    warns: the plan still holds for this process."""
    where = path()
    if where is None:
        return
    with _LOCK:
        machines = _read(where)
        table = dict(machines.get(fingerprint(), {}))
        table[key[:MAX_TEXT]] = name
        if len(table) > MAX_PLANS // 2:  # a runaway variety of shapes: start this machine's table over
            table = {key[:MAX_TEXT]: name}
        machines[fingerprint()] = table
        tmp = None
        try:
            where.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".plans-", suffix=".tmp", dir=where.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"version": VERSION, "plans": machines}, f, indent=1, sort_keys=True)
            os.replace(tmp, where)  # replaces a link itself, never writes through it
        except OSError as e:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            warnings.warn(REFUSED.format(path=where, why=f"cannot write it ({type(e).__name__})"), PlanCacheWarning,
                          stacklevel=3)
            return
        _LOADED[str(where)] = (_mtime(where), table)
