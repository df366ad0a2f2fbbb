"""End to end: real nbgrader commands, batches of real notebooks, the CLI in subprocesses, the README's lines, the
wheel in a fresh venv. Every test here is ``slow`` (``make test-fast`` leaves this folder out)."""
from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items):
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.slow)
