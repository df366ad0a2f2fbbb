"""The cgroups of one worker: ``pids.max`` bounds fork bombs and threads, the cpu controller gives each worker the
same share, and killing the cgroup reaps daemons that left the process group (layers ``pids-limit``, ``cpu-share``).
Works on cgroup v2 (the unified hierarchy, controllers enabled) and v1 (one hierarchy per controller)."""
from __future__ import annotations

import contextlib
import functools
import os
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # layers.py imports this module
    from .layers import Limits

__all__ = ["WorkerCgroup", "cgroup_bases"]


# The file that shows a controller is usable in a child cgroup: v2 name, then v1 name.
_CONTROLLER_FILES = {"pids": ("pids.max",), "cpu": ("cpu.max", "cpu.cfs_quota_us")}


@functools.cache
def cgroup_bases() -> dict[str, str]:
    """``{controller: directory}`` for "pids" and "cpu": where this process may create child cgroups that have the
    controller (cgroup v1 hierarchies, or the v2 unified one with the controller enabled). Absent: not available."""
    if not sys.platform.startswith("linux"):
        return {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return {}
    candidates: dict[str, list[str]] = {c: [] for c in _CONTROLLER_FILES}
    for line in lines:
        _, ctrls, rel = line.split(":", 2)
        names = ctrls.split(",")
        for c in candidates:
            if c in names:
                candidates[c] += [f"/sys/fs/cgroup/{ctrls}{rel}", f"/sys/fs/cgroup/{c}{rel}"]
            elif ctrls == "":
                candidates[c] += [f"/sys/fs/cgroup{rel}", f"/sys/fs/cgroup/unified{rel}"]
    found = {}
    for controller, bases in candidates.items():
        for base in dict.fromkeys(bases):
            if _probe(base, controller):
                found[controller] = base
                break
    return found


def _probe(base: str, controller: str) -> bool:
    probe = Path(base) / f"convkit-probe-{os.getpid()}"
    try:
        probe.mkdir()
    except OSError:
        return False
    try:
        files = [probe / f for f in _CONTROLLER_FILES[controller] if (probe / f).exists()]
        if files:
            files[0].write_text("8" if controller == "pids" else files[0].read_text())
            return True
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            probe.rmdir()
    return False


_CPU_PERIOD_US = 100_000


class WorkerCgroup:
    """The cgroups holding one worker and all its descendants: pids.max bounds fork bombs and threads, the cpu
    controller gives it its own share, kill() reaps daemons. One directory per hierarchy (two on cgroup v1)."""

    def __init__(self, bases: dict[str, str], limits: Limits):
        _sweep_once(tuple(sorted(bases.values())))
        name = f"convkit-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.dirs: dict[str, Path] = {}
        self.controllers: list[str] = []
        try:
            for controller, base in bases.items():
                path = Path(base) / name
                if path not in self.dirs.values():
                    path.mkdir()
                self.dirs[controller] = path
                if controller == "pids":
                    (path / "pids.max").write_text(str(limits.max_procs))
                else:
                    self._cpu(path, limits.cpu_cores)
                self.controllers.append(controller)
        except OSError:
            self.remove()
            raise
        self.procs_files = [str(p / "cgroup.procs") for p in dict.fromkeys(self.dirs.values())]

    @staticmethod
    def _cpu(path: Path, cores: float):
        quota = max(1000, int(cores * _CPU_PERIOD_US))
        if (path / "cpu.max").exists():
            (path / "cpu.max").write_text(f"{quota} {_CPU_PERIOD_US}")
            (path / "cpu.weight").write_text("100")
        else:
            (path / "cpu.cfs_period_us").write_text(str(_CPU_PERIOD_US))
            (path / "cpu.cfs_quota_us").write_text(str(quota))
            (path / "cpu.shares").write_text("1024")

    def holds(self, pid: int) -> list[str]:
        """The controllers whose cgroup holds ``pid``."""
        return [c for c in self.controllers if pid in _members(self.dirs[c])]

    def pids(self) -> list[int]:
        return sorted({pid for d in set(self.dirs.values()) for pid in _members(d)})

    def kill(self, rounds: int = 200) -> bool:
        """SIGKILL every member until none is left (pids.max = 0 first, so nobody can fork a replacement)."""
        import signal
        import time
        if "pids" in self.dirs:
            with contextlib.suppress(OSError):
                (self.dirs["pids"] / "pids.max").write_text("0")
        for _ in range(rounds):
            pids = self.pids()
            if not pids:
                return True
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)
        return not self.pids()

    def remove(self):
        for path in dict.fromkeys(self.dirs.values()):
            for _ in range(100):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # members not yet reaped by the kernel
                    self.kill(rounds=5)


@functools.cache
def _sweep_once(bases: tuple[str, ...]) -> None:
    """Remove the cgroups of grading processes that died without removing them (once per process, before its
    first cgroup). A pool process removes its own when the batch's leader dies (lifeline.py); a Dask worker of a
    LocalCluster may be ended first by Dask's own watch of its parent (os._exit), and leaves them to this."""
    for base in bases:
        with contextlib.suppress(OSError):
            for path in Path(base).glob("convkit-*-*"):
                owner = path.name.split("-")[1]
                if owner.isdigit() and not _alive(int(owner)):
                    orphan = WorkerCgroup.__new__(WorkerCgroup)
                    orphan.dirs, orphan.controllers = {"pids": path}, []
                    orphan.remove()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _members(path: Path) -> list[int]:
    try:
        return [int(x) for x in (path / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []
