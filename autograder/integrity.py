"""Is this notebook a student's work? Checks made on the parsed notebook before any of its code runs.

* :func:`structure_problem` -- the notebook JSON has the shapes the loader relies on (cells are mappings, sources
  strings, nbgrader metadata a mapping with a string ``grade_id``); a bad one is that student's load failure naming
  the cell, never an exception that costs the batch.
* :func:`solution_markers` -- a notebook that carries nbgrader's solution, hidden-test or mark-scheme delimiters is
  the instructor's source, not a release a student filled in (``nbgrader collect`` copies whatever a student's
  inbound entry points to, with the instructor's rights: FINDINGS.md).
* :func:`source_copies` -- the solution cells that are, line for line, the source notebook's solutions: flags for
  the instructor in the result, not a refusal (a short solution such as ``return np.maximum(x, 0)`` can match
  honestly, and the source notebook itself is already refused by its delimiters).
"""
from __future__ import annotations

import functools
import re

__all__ = ["structure_problem", "solution_markers", "source_copies", "MARKERS_MESSAGE", "SOURCE_COPY_FLAG",
           "STRUCTURE_MESSAGE", "SOURCE_MATCH_FLAG"]

STRUCTURE_MESSAGE = "cell {cell}: {problem}; the notebook's JSON was edited by hand or by a broken tool"
MARKERS_MESSAGE = ("cell {cell} carries nbgrader's {marker!r} delimiter: this is the course's source notebook (the "
                   "instructor's solutions), not a filled-in release; it is not graded")
SOURCE_COPY_FLAG = ("every solution cell is the course's own solution, line for line (the source notebook with its "
                    "delimiters removed?)")
SOURCE_MATCH_FLAG = "cell {grade_id} is identical to the course's solution"

# nbgrader's default delimiters (ClearSolutions, ClearHiddenTests, ClearMarkScheme), in a comment or on their own.
# Deliberately broader than the solution-region parser of autograder.notebooks (which reads only the course's own,
# trusted notebooks): a submission is refused for any spelling of a marker, and is never parsed into regions.
_MARKER = re.compile(r"^\s*(?:#+\s*)?(BEGIN SOLUTION|END SOLUTION|BEGIN HIDDEN TESTS|END HIDDEN TESTS|"
                     r"=== BEGIN MARK SCHEME ===|=== END MARK SCHEME ===)\s*$", re.MULTILINE)
_DELIMITER_LINE = re.compile(r"^\s*#+\s*(BEGIN|END) SOLUTION\s*$")


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def structure_problem(nb) -> str | None:
    """The first structural fault of ``nb`` (parsed by nbformat) as a student-facing message, or None."""
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        return STRUCTURE_MESSAGE.format(cell="-", problem="the notebook has no list of cells")
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict):
            return STRUCTURE_MESSAGE.format(cell=number, problem="it is not a JSON object")
        if not isinstance(cell.get("cell_type"), str):
            return STRUCTURE_MESSAGE.format(cell=number, problem="its cell_type is not a string")
        src = cell.get("source", "")
        if not (isinstance(src, str) or (isinstance(src, list) and all(isinstance(s, str) for s in src))):
            return STRUCTURE_MESSAGE.format(cell=number, problem="its source is not text")
        meta = cell.get("metadata", {})
        if not isinstance(meta, dict):
            return STRUCTURE_MESSAGE.format(cell=number, problem="its metadata is not a mapping")
        tags = meta.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            return STRUCTURE_MESSAGE.format(cell=number, problem="its tags are not a list of strings")
        if "nbgrader" not in meta:
            continue
        grader = meta["nbgrader"]
        if not isinstance(grader, dict):
            return STRUCTURE_MESSAGE.format(cell=number, problem="its nbgrader metadata is not a mapping")
        if "grade_id" in grader and not isinstance(grader["grade_id"], str):
            return STRUCTURE_MESSAGE.format(cell=number, problem="its nbgrader grade_id is not a string")
        for flag in ("grade", "solution", "locked", "task"):
            if flag in grader and not isinstance(grader[flag], bool):
                return STRUCTURE_MESSAGE.format(cell=number, problem=f"its nbgrader {flag!r} flag is not true/false")
    return None


def solution_markers(nb) -> str | None:
    """A refusal message when a cell carries nbgrader's solution / hidden-test / mark-scheme delimiters."""
    for number, cell in enumerate(nb["cells"], start=1):
        match = _MARKER.search(_source(cell))
        if match:
            return MARKERS_MESSAGE.format(cell=number, marker=match.group(1))
    return None


def _normalised(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines()
                 if line.strip() and not _DELIMITER_LINE.match(line))


@functools.cache
def _source_solutions(assignment: str) -> dict[str, tuple[str, ...]]:
    """``{grade_id: normalised source}`` of the source notebook's solution cells (empty without a source)."""
    from autograder.notebooks import read_notebook
    from autograder.suites import assignment as registered

    known = registered(assignment)
    path = known.packaged_source() / known.notebook
    if not path.is_file():
        return {}
    nb = read_notebook(path)
    out = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution") and meta.get("grade_id"):
            out[meta["grade_id"]] = _normalised(cell.source)
    return out


def source_copies(nb, assignment: str) -> list[str]:
    """Flags for the solution cells of ``nb`` identical to the source notebook's (one flag when all of them are)."""
    solutions = _source_solutions(assignment)
    by_text: dict[tuple[str, ...], str] = {text: gid for gid, text in solutions.items()}
    found: list[str] = []
    for cell in nb["cells"]:
        if cell.get("cell_type") == "code":
            gid = by_text.get(_normalised(_source(cell)))
            if gid is not None and gid not in found:
                found.append(gid)
    if solutions and len(found) == len(solutions):
        return [SOURCE_COPY_FLAG]
    return [SOURCE_MATCH_FLAG.format(grade_id=g) for g in found]
