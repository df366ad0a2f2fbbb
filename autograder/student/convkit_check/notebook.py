"""The notebook loader: the code a submission defines (solution and setup cells; nbgrader test cells and cells
tagged ``convkit-demo`` are skipped, IPython magics are commented out), as one source or a namespace."""
from __future__ import annotations

import linecache
import os
from pathlib import Path

DEMO_TAG = "convkit-demo"
# The list, in the notebook's namespace, of the errors its cells raised (the grader's worker reads it too).
CELL_ERRORS = "__convkit_cell_errors__"


def _is_test_cell(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution", False)


def _strip_magics(source: str) -> str:
    # IPython syntax is not Python: comment it out, keeping the indentation so line numbers stay right.
    out = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")) or "get_ipython()" in stripped:
            line = line[: len(line) - len(stripped)] + "# " + stripped
        out.append(line)
    return "\n".join(out)


def notebook_cells(path) -> list[tuple[int, str]]:
    """``(cell number, source)`` of the code cells a submission defines, magics commented out. ``path`` may also
    be a notebook already parsed by nbformat (the grader reads a submission once, with a cap)."""
    if isinstance(path, dict):
        nb = path
    else:
        import nbformat  # here, not at the top: the sandbox worker loads this module and never reads notebooks

        nb = nbformat.read(str(path), as_version=4)
    cells = []
    for number, cell in enumerate(nb["cells"], start=1):
        if cell["cell_type"] != "code" or _is_test_cell(cell):
            continue
        if DEMO_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        cells.append((number, _strip_magics(cell["source"])))
    return cells


_PRELUDE = f"""\
{CELL_ERRORS} = []
try:  # pictures are never shown while checking or grading
    import matplotlib as _mpl
    _mpl.use("Agg")
    import matplotlib.pyplot as _plt
    _plt.show = lambda *args, **kwargs: None
    del _mpl, _plt
except ImportError:
    pass
"""

# The list of cell errors is looked up afresh (a cell may have rebound the name), and an exception whose str()
# fails is still recorded: one cell's error never stops the cells after it from loading.
_CELL = """\
try:
    exec(compile({source!r}, "<cell {number}>", "exec"), globals())
except (Exception, SystemExit) as _convkit_exc:
    if type(globals().get("{errors}")) is not list:
        globals()["{errors}"] = []
    try:
        _convkit_message = str(_convkit_exc)
    except Exception:
        _convkit_message = "(the exception's message could not be shown)"
    globals()["{errors}"].append({{"cell": {number}, "type": type(_convkit_exc).__name__,
                                   "message": _convkit_message}})
    del _convkit_exc, _convkit_message
"""


def notebook_source(path) -> str:
    """One Python source that runs the submission's code cells in order (``path``: a file or a parsed notebook);
    an error in one cell is recorded in ``__convkit_cell_errors__`` and the next cells still run."""
    cells = notebook_cells(path)
    uses_mpl = any("matplotlib" in src for _, src in cells)
    parts = [_PRELUDE if uses_mpl else f"{CELL_ERRORS} = []\n"]
    parts += [_CELL.format(source=src, number=n, errors=CELL_ERRORS) for n, src in cells]
    return "\n".join(parts)


def load_notebook(path) -> dict:
    """Execute the submission's code cells in a fresh namespace and return it (cell errors under
    ``__convkit_cell_errors__``). Tracebacks show the cells' lines."""
    for number, src in notebook_cells(path):
        linecache.cache[f"<cell {number}>"] = (len(src), None, src.splitlines(True), f"<cell {number}>")
    namespace: dict = {"__name__": "__convkit_notebook__"}
    os.environ.setdefault("MPLBACKEND", "Agg")
    exec(compile(notebook_source(path), f"<notebook {Path(path).name}>", "exec"), namespace)
    return namespace

