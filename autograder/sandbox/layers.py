"""Which isolation layers this machine allows, and the command line and worker configuration that apply them.

Layers (names as they appear in ``Sandbox.layers``; the reason for each absent one lands in ``Sandbox.missing``):

- ``rlimits``      address space, CPU seconds, file size, open files, no core dumps (always; applied by the worker)
- ``bubblewrap``   ``bwrap`` as root with ``--cap-drop ALL``, an empty tmpfs root and read-only binds of only the
                   Python installation, the virtualenv and /usr; all namespaces unshared (``pidns``, ``netns``)
- ``netns``        no network: bwrap's, or ``unshare(CLONE_NEWNET)`` by the worker (as root, before NumPy loads)
- ``pidns``        a pid namespace: the grader is invisible, and everything dies with the namespace's init
- ``uid-drop``     without bwrap, as root: the worker becomes uid/gid 65534 after its trusted imports
- ``landlock``     read-only allow-list (Python, virtualenv, /usr), read-write only the scratch dir, no TCP,
                   signals scoped to the worker (Landlock ABI >= 6; older ABIs report ``landlock-abiN``)
- ``seccomp``      no inet sockets, ptrace, process_vm_*, namespace or mount calls; signals only to itself; no
                   new processes (fork, vfork, clone without CLONE_THREAD), no setsid/setpgid, PR_SET_PDEATHSIG kept
- ``parent-death`` without bwrap: the worker gets SIGKILL when the grader thread that started it ends (bwrap's
                   ``--die-with-parent`` does it otherwise); a lifeline thread also ends it when the grader's pipe
                   closes, so ``kill -9`` of the grader leaves no worker behind
- ``pids-limit``   a cgroup with ``pids.max``; killing the cgroup also reaps setsid daemons
- ``cpu-share``    a cgroup of its own in the cpu controller: at most ``Limits.cpu_cores`` cores (``cpu.max``, v1
                   ``cpu.cfs_quota_us``) and the same weight as every other worker (``cpu.weight``/``cpu.shares``),
                   whatever number of threads it runs, so one submission cannot starve the ones graded beside it
- ``own-clock``    (the grader's side) a call's timeout does not count the time the worker waited for a CPU
                   (cpuclock.py): a crowded machine cannot make an honest call time out
- ``rlimit-nproc`` RLIMIT_NPROC for the dropped uid, the weaker fallback when no cgroup is writable
- ``scratch-quota`` the scratch dir is a size-capped tmpfs (bwrap only; otherwise only RLIMIT_FSIZE per file)
"""
from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import site
import subprocess
import sys

from .cgroups import WorkerCgroup, cgroup_bases

__all__ = ["Limits", "Plan", "WorkerCgroup", "bwrap_path", "cgroup_bases", "build_plan", "hidden_data_dirs"]

NOBODY = 65534
# Packages of this repository that must never be readable from a worker, even if installed into site-packages.
_HIDDEN_PACKAGES = ("reference", "autograder", "convkit")
# Imported before the uid drop and Landlock: a student may use them even when their files become unreadable.
# numpy.testing is not among them: it took 55 ms of a 280 ms start (it imports unittest), no exercise's code needs
# it, and numpy imports it on first use of np.testing, as any module not preloaded is imported when asked for.
_PRELOAD = ("math", "itertools", "functools", "collections", "typing", "dataclasses", "random", "numbers",
            "numpy.linalg", "numpy.lib.stride_tricks")
_DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random", "/dev/full")
# Data a worker must never read, relative to each directory on the import path: scikit-learn's bundled data sets
# hold the capstone's digits, held-out ones included (invariant 7). Masked by bubblewrap, left out of Landlock's
# allow-list; the CNN exercises need none of these files.
_HIDDEN_DATA = (os.path.join("sklearn", "datasets", "data"),)


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed worker. Sizes in bytes unless the name says MB; times in seconds.

    ``budget_s``: the wall-clock seconds one submission's workers may take in all (see budget.py), the default of a
    Sandbox given no shared Budget. 120 s is ten times what a correct submission of the array assignments takes on
    a loaded 2-core machine (well under 10 s) and bounds a submission that stalls every call to 2 minutes instead
    of (number of calls) x ``call_timeout_s``. ``cpu_cores``: the worker's CPU share where the cpu cgroup exists.
    """

    call_timeout_s: float = 10.0
    load_timeout_s: float = 20.0
    budget_s: float = 120.0
    memory_mb: int = 1024
    cpu_s: int = 60
    cpu_cores: float = 1.0
    max_output_bytes: int = 1 << 20
    max_array_bytes: int = 64 << 20
    max_procs: int = 32
    max_file_bytes: int = 16 << 20
    scratch_mb: int = 64
    use_bwrap: bool | None = None      # None: use bubblewrap when it is installed and works
    use_cgroup: bool | None = None     # None: use pids and cpu cgroups where they are writable

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name.startswith("use_"):
                continue
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"Limits.{f.name} must be a positive number, got {v!r}")


@dataclasses.dataclass
class Plan:
    """Everything needed to start one worker: argv prefix, worker config, parent-side layers, missing ones."""

    prefix: list
    config: dict
    layers: list
    missing: dict
    scratch_host: str | None      # a host directory to remove afterwards (None when the scratch is a bwrap tmpfs)
    cgroup: WorkerCgroup | None


@functools.cache
def bwrap_path() -> str | None:
    """The bwrap executable if it is installed AND can create its namespaces here (containers may forbid it)."""
    path = shutil.which("bwrap") or next((p for p in ("/usr/bin/bwrap", "/bin/bwrap") if os.path.exists(p)), None)
    if path is None:
        return None
    probe = [path, "--cap-drop", "ALL", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "--", "/bin/true"]
    try:
        ok = subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return path if ok else None


def _site_dirs() -> list[str]:
    dirs = [d for d in site.getsitepackages() if os.path.isdir(d)]
    return dirs or [d for d in sys.path if d.endswith("site-packages") and os.path.isdir(d)]


def hidden_data_dirs() -> list[str]:
    """Every copy of :data:`_HIDDEN_DATA` on this interpreter's import path, as given and as real paths."""
    roots = {p for p in [*_site_dirs(), *sys.path] if p and os.path.isdir(p)}
    found = set()
    for root in roots:
        for rel in _HIDDEN_DATA:
            path = os.path.join(os.path.abspath(root), rel)
            if os.path.isdir(path):
                found.update({path, os.path.realpath(path)})
    return sorted(found)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _grant_except(root: str, hidden: list[str], seen: set) -> tuple[list[str], list[str]]:
    """``(dirs, files)`` granting everything under ``root`` except the ``hidden`` real paths. Landlock only allows,
    and opens a granted path through its symlinks, so a directory that holds a hidden one is granted entry by
    entry, by real path, down the hidden path only (``seen``: directories already expanded, against link loops)."""
    root = os.path.realpath(root)
    if any(_inside(root, h) for h in hidden) or root in seen:
        return [], []
    if not any(_inside(h, root) for h in hidden):
        return [root], []
    seen.add(root)
    dirs, files = [], []
    for entry in os.scandir(root):
        real = os.path.realpath(entry.path)
        if os.path.isdir(real):
            d, f = _grant_except(real, hidden, seen)
            dirs += d
            files += f
        elif not any(_inside(real, h) for h in hidden):
            files.append(real)
    return dirs, files


@functools.lru_cache(maxsize=1)
def _readable_roots() -> tuple[list[str], list[str]]:
    """Directories (and files) a worker may read: the interpreter, the virtualenv minus hidden packages, /usr;
    never the hidden data (:func:`hidden_data_dirs`). Computed once per grading process (walking the grants took
    50 ms, a fifth of a worker's start): the interpreter's folders do not move while it runs."""
    dirs: list[str] = []
    files: list[str] = []
    for d in sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.exec_prefix, "/usr")}):
        dirs.append(d)
    venv = os.path.realpath(sys.prefix)
    for sp in _site_dirs():
        sp = os.path.realpath(sp)
        if not any(os.path.exists(os.path.join(sp, h)) for h in _HIDDEN_PACKAGES):
            dirs.append(sp)
            continue
        for entry in os.scandir(sp):  # allow entry by entry, leaving the hidden packages out
            if entry.name.split(".")[0].split("-")[0] in _HIDDEN_PACKAGES:
                continue
            (dirs if entry.is_dir() else files).append(entry.path)
    if venv not in dirs:
        files += [os.path.join(venv, "pyvenv.cfg")]
    for p in ("/lib", "/lib64", "/etc/ld.so.cache"):
        if os.path.exists(p):
            (files if os.path.isfile(p) else dirs).append(os.path.realpath(p))
    # The hidden data and, should the kit be installed into site-packages (not editable), its own packages: the
    # virtualenv's root is granted too (the interpreter lives there), so they are cut out of every grant.
    hidden = [os.path.realpath(h) for h in hidden_data_dirs()]
    hidden += [os.path.realpath(os.path.join(sp, h)) for sp in _site_dirs() for h in _HIDDEN_PACKAGES
               if os.path.isdir(os.path.join(sp, h))]
    seen: set = set()
    granted = [_grant_except(d, hidden, seen) for d in dirs]
    return (list(dict.fromkeys(d for g, _ in granted for d in g)),
            list(dict.fromkeys(files + [f for _, g in granted for f in g])))


def _bwrap_prefix(bwrap: str, limits: Limits) -> list[str]:
    args = [bwrap, "--cap-drop", "ALL", "--unshare-all", "--die-with-parent", "--new-session",
            "--tmpfs", "/", "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    if os.path.exists("/etc/ld.so.cache"):
        args += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    # The scratch tmpfs first: the binds below may lie under /tmp (a clone in /tmp has its virtualenv there), and a
    # later mount would hide them.
    size = str(limits.scratch_mb << 20)
    args += ["--dev", "/dev", "--proc", "/proc", "--size", size, "--tmpfs", "/tmp",
             "--size", str(1 << 20), "--tmpfs", "/dev/shm"]
    # Only the interpreter and the virtualenv: never the repository around it, nor the course directory.
    binds = {os.path.realpath(p) for p in (sys.base_prefix, sys.exec_prefix, sys.prefix)}
    binds.add(os.path.abspath(sys.prefix))
    for p in sorted(b for b in binds if not b.startswith("/usr/")):
        args += ["--ro-bind", os.path.realpath(p), p]
    for sp in _site_dirs():  # mask this repository's packages if they were installed into site-packages
        for h in _HIDDEN_PACKAGES:
            if os.path.isdir(os.path.join(sp, h)):
                args += ["--tmpfs", os.path.join(sp, h)]
    for d in hidden_data_dirs():  # an empty tmpfs over each copy of the hidden data
        args += ["--tmpfs", d]
    args += ["--remount-ro", "/", "--uid", str(NOBODY), "--gid", str(NOBODY), "--chdir", "/tmp", "--"]
    return args


# Writes its pid into each cgroup.procs file named before "--", then becomes the command after it: the worker and
# everything it starts are in their cgroups before any of its own code runs.
_ENTER_CGROUPS = 'while [ "$1" != -- ]; do echo $$ > "$1"; shift; done; shift; exec "$@"'


def build_plan(limits: Limits, fd_in: int, fd_out: int, parent_pid: int | None = None) -> Plan:
    """Decide the layers for one worker start; create its scratch dir and cgroups (the caller removes them).

    ``parent_pid``: the grader's pid when the worker may die with it (PR_SET_PDEATHSIG, set only for a worker
    started from the main thread: the signal comes when the starting THREAD ends)."""
    import tempfile
    layers, missing = [], {}
    linux = sys.platform.startswith("linux")
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    bwrap = bwrap_path() if linux and limits.use_bwrap is not False else None
    if limits.use_bwrap and bwrap is None:
        raise RuntimeError("Limits.use_bwrap=True but bubblewrap is not installed or cannot create namespaces here")
    config = {"fd_in": fd_in, "fd_out": fd_out, "memory_mb": limits.memory_mb, "cpu_s": int(limits.cpu_s),
              "max_file_bytes": limits.max_file_bytes, "max_output_chars": limits.max_output_bytes,
              "caps": {"array_bytes": limits.max_array_bytes, "total_bytes": 4 * limits.max_array_bytes,
                       "header_bytes": max(16 << 20, 8 * limits.max_output_bytes)},
              "preload": list(_PRELOAD), "site_dirs": _site_dirs(), "landlock": linux, "seccomp": linux, "uid": None,
              "netns": False}
    read_dirs, read_files = _readable_roots()
    config.update(read_dirs=list(read_dirs), read_files=list(read_files),
                  rw_files=[d for d in _DEVICES if os.path.exists(d)])
    scratch_host = None
    if bwrap:
        prefix = _bwrap_prefix(bwrap, limits)
        config["scratch"] = "/tmp"
        layers += ["bubblewrap", "netns", "pidns", "scratch-quota", "parent-death"]
        if root:
            missing["uid-drop"] = ("bubblewrap as root maps the sandbox uid 65534 to root outside; all capabilities "
                                   "are dropped and only read-only system paths are bound in instead")
    else:
        prefix = []
        scratch_host = tempfile.mkdtemp(prefix="convkit-sb-")
        config["scratch"] = scratch_host
        missing["bubblewrap"] = ("not Linux" if not linux else "disabled by Limits.use_bwrap=False"
                                 if limits.use_bwrap is False else "bwrap not installed or not usable here")
        missing["pidns"] = "needs bubblewrap"
        missing["scratch-quota"] = "needs bubblewrap (only RLIMIT_FSIZE per file applies)"
        if root and linux:
            config.update(netns=True, uid=NOBODY, gid=NOBODY)
            os.chown(scratch_host, NOBODY, NOBODY)
        elif linux:
            missing["netns"] = "needs root or bubblewrap"
        if not root:
            missing["uid-drop"] = "the grader does not run as root: the worker keeps the grader's uid"
        if linux and parent_pid:
            config["parent_pid"] = parent_pid
        else:
            missing["parent-death"] = ("not Linux" if not linux else "started from a thread other than the main "
                                       "one: only the lifeline thread (the grader's pipe closing) ends the worker")
    cgroup = None
    bases = cgroup_bases() if linux and limits.use_cgroup is not False else {}
    for controller, layer in (("pids", "pids-limit"), ("cpu", "cpu-share")):
        if controller not in bases:
            missing[layer] = (f"no writable cgroup with the {controller} controller" if limits.use_cgroup is not False
                              else "disabled by Limits.use_cgroup=False")
    if bases:
        try:
            cgroup = WorkerCgroup(bases, limits)
            prefix = ["/bin/sh", "-c", _ENTER_CGROUPS, "sh", *cgroup.procs_files, "--"] + prefix
        except OSError as exc:
            missing.update({layer: f"cannot create the worker's cgroup: {exc}" for c, layer in
                            (("pids", "pids-limit"), ("cpu", "cpu-share")) if c in bases})
    if (cgroup is None or "pids" not in cgroup.controllers) and config["uid"] is not None:
        config["nproc"] = limits.max_procs
        layers.append("rlimit-nproc")
    if not linux:
        missing.update(landlock="not Linux", seccomp="not Linux", netns="not Linux")
    return Plan(prefix=prefix, config=config, layers=layers, missing=missing, scratch_host=scratch_host, cgroup=cgroup)
