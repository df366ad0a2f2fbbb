"""The notebook toolkit: the one parser of nbgrader's solution region, and the cell look-ups built on it.

A solution cell of a source notebook holds its student-written code between two delimiter lines::

    def relu(x):
        x = as_float_array(x, "x")
        ### BEGIN SOLUTION
        return np.maximum(x, 0)
        ### END SOLUTION

nbgrader's release replaces each region (delimiters included) by ``raise NotImplementedError()`` at the region's
indentation (:data:`STUB`). :func:`regions` parses the regions of a cell; everything else here (a region's body, a
body replaced, the delimiters removed, the stubs nbgrader makes) is written with it. These are trusted notebooks
(the course's sources and releases): an unbalanced delimiter is a :class:`ValueError` naming the line.

A SUBMISSION is another matter: :mod:`autograder.integrity` refuses any notebook that carries a delimiter, with a
deliberately broader pattern (any number of ``#``, hidden-test and mark-scheme markers too), and never parses it.
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import nbformat

__all__ = ["BEGIN", "END", "STUB", "Region", "regions", "region_bodies", "replace_region", "without_delimiters",
           "stub_regions", "read_notebook", "write_notebook", "notebook_bytes", "find_cell", "cell_index",
           "solution_sources", "solution_region_lines", "fill_solutions"]

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = "raise NotImplementedError()"  # what nbgrader's ClearSolutions puts in place of a code region
UNCLOSED_MESSAGE = "line {line}: {delimiter!r} without its {other!r}"


@dataclass(frozen=True)
class Region:
    """One solution region of a cell's source: ``begin`` and ``end`` are the 0-based indices of its delimiter lines,
    ``indent`` the whitespace before ``### BEGIN SOLUTION``, ``lines`` the lines between the delimiters as written."""

    begin: int
    end: int
    indent: str
    lines: tuple[str, ...]

    @property
    def body(self) -> str:
        """The region's code, dedented (no trailing newline)."""
        return textwrap.dedent("\n".join(self.lines))


def _delimiter(line: str) -> str | None:
    stripped = line.strip()
    return stripped if stripped in (BEGIN, END) else None


def regions(source: str) -> list[Region]:
    """The solution regions of ``source``, in order (a delimiter is a line holding only it, indentation aside)."""
    lines = source.split("\n")
    found, start = [], None
    for number, line in enumerate(lines):
        kind = _delimiter(line)
        if kind == BEGIN and start is None:
            start = number
        elif kind == END and start is not None:
            found.append(Region(start, number, lines[start][: len(lines[start]) - len(lines[start].lstrip())],
                                tuple(lines[start + 1:number])))
            start = None
        elif kind is not None:
            raise ValueError(UNCLOSED_MESSAGE.format(line=number + 1, delimiter=kind,
                                                     other=END if kind == BEGIN else BEGIN))
    if start is not None:
        raise ValueError(UNCLOSED_MESSAGE.format(line=start + 1, delimiter=BEGIN, other=END))
    return found


def region_bodies(source: str) -> list[str]:
    """The dedented code of every region of ``source``, in order."""
    return [r.body for r in regions(source)]


def without_delimiters(source: str) -> str:
    """``source`` without its ``### BEGIN SOLUTION`` / ``### END SOLUTION`` lines: the code a student writes."""
    return "\n".join(line for line in source.split("\n") if _delimiter(line) is None)


def replace_region(source: str, body: str, index: int = 0, *, delimiters: bool = True) -> str:
    """``source`` with the code of its ``index``-th region replaced by ``body`` (dedented, stripped, then indented
    as the region is). ``delimiters=False``: also without any delimiter line, as a student's cell is."""
    region = regions(source)[index]
    lines = source.split("\n")
    new = textwrap.indent(textwrap.dedent(body).strip(), region.indent).split("\n")
    if delimiters:
        return "\n".join(lines[:region.begin + 1] + new + lines[region.end:])
    after = without_delimiters("\n".join(lines[region.end + 1:])) if region.end + 1 < len(lines) else ""
    return "\n".join(lines[:region.begin] + new + [after]).rstrip("\n")


def stub_regions(source: str) -> str:
    """``source`` as nbgrader releases it: every region, delimiters included, replaced by :data:`STUB`."""
    lines, out, position = source.split("\n"), [], 0
    for region in regions(source):
        out += lines[position:region.begin] + [region.indent + STUB]
        position = region.end + 1
    return "\n".join(out + lines[position:])


# ----------------------------------------------------------------------------------------------- notebooks
def read_notebook(nb_or_path) -> nbformat.NotebookNode:
    """The notebook at a path (nbformat 4), or ``nb_or_path`` itself when it is one already."""
    if isinstance(nb_or_path, (str, Path)):
        return nbformat.read(str(nb_or_path), as_version=4)
    return nb_or_path


def write_notebook(nb: nbformat.NotebookNode, path: str | Path) -> Path:
    """Write ``nb`` to ``path`` (folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def notebook_bytes(content) -> bytes:
    """``content`` as the bytes of a notebook file (raw bytes are kept as they are: a broken file on purpose)."""
    return content if isinstance(content, bytes) else nbformat.writes(content).encode()


def find_cell(nb, grade_id: str):
    """The cell of ``nb`` whose nbgrader ``grade_id`` is ``grade_id``; LookupError when none is."""
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return cell
    raise LookupError(f"no cell {grade_id!r}")


def cell_index(nb, grade_id: str) -> int:
    return nb.cells.index(find_cell(nb, grade_id))


def solution_sources(nb_or_path) -> dict[str, str]:
    """``{grade_id: source}`` of every nbgrader solution cell of a notebook."""
    nb = read_notebook(nb_or_path)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def solution_region_lines(nb_or_path) -> list[str]:
    """The stripped, non-blank lines inside every solution region of a notebook."""
    return [line.strip() for source in solution_sources(nb_or_path).values() for region in regions(source)
            for line in region.lines if line.strip()]


def fill_solutions(released, source) -> nbformat.NotebookNode:
    """A copy of the released notebook with each solution cell's code taken back from the source notebook, as a
    student would write it: without nbgrader's delimiters (the grader refuses a notebook that carries them)."""
    released = nbformat.from_dict(read_notebook(released))
    solutions = solution_sources(source)
    for cell in released.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = without_delimiters(solutions[grade_id])
    return released
