"""The reference package as committed at another git revision, importable beside the working tree's own.

``reference_vs_torch.py --baseline REV`` times it in the same interleaved rounds as the reference and torch, so a
change can be judged on a CPU where only the older code was ever measured: "no slower than REV, row by row" carries
REV's results on that CPU over to the change, which a simulation of the CPU cannot (benchmarks/README.md).

How: ``git archive REV reference`` into a temporary folder (removed at exit), the package renamed
``reference_<commit>`` and every ``reference`` word of its source with it, so its own absolute imports resolve to
itself and never to the working tree's package.
"""
from __future__ import annotations

import atexit
import importlib
import io
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType

__all__ = ["load", "BaselineError"]

PACKAGE = "reference"


class BaselineError(RuntimeError):
    """The revision cannot be loaded (not a commit, no reference package there, not a git checkout)."""


def _git(repo: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    except FileNotFoundError as exc:
        raise BaselineError("git is not installed: --baseline reads the revision from the repository") from exc
    if done.returncode != 0:
        raise BaselineError(f"git {' '.join(args[:2])}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def load(rev: str, repo: Path) -> tuple[str, ModuleType]:
    """``(commit, package)``: the short commit ``rev`` names in ``repo`` and its reference package, imported under
    a name of its own (its submodules import on first use, as ``reference``'s do: ``importlib.import_module``)."""
    commit = _git(repo, "rev-parse", "--verify", "--short=10", f"{rev}^{{commit}}").decode().strip()
    name = f"{PACKAGE}_{commit}"
    if name in sys.modules:
        return commit, sys.modules[name]
    archive = _git(repo, "archive", "--format=tar", commit, PACKAGE)
    root = Path(tempfile.mkdtemp(prefix="convkit-baseline-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    word = re.compile(rf"\b{PACKAGE}\b")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if not member.isfile() or not member.name.endswith(".py") or parts[0] != PACKAGE:
                continue
            target = root.joinpath(name, *parts[1:])
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None                   # a regular file always has content to extract
            target.write_text(word.sub(name, source.read().decode("utf-8")), encoding="utf-8")
    if not (root / name / "__init__.py").is_file():
        raise BaselineError(f"revision {rev} ({commit}) has no {PACKAGE}/ package")
    sys.path.insert(0, str(root))
    return commit, importlib.import_module(name)
