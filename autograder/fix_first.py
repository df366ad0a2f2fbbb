"""The feedback page's opening section, "fix first": what to fix, ranked by the points it costs.

A function whose cases fail because a function it calls fails (correlate2d, when output_size is off by one) is
attributed to that root: "fix output_size first", with the points lost in every function that uses it. The call
graph is read, never run, from code: the student's own solution cells (what their functions really call), over the
kit's source notebook (the solutions' calls) for a function the student's cells do not define or when their
notebook cannot be read. Only the grader's own data reaches the section: function names of the assignment, points,
statuses, counts and the names of the known mistakes (with their explanations); nothing of a hidden case beyond
its status and diagnosis.
"""
from __future__ import annotations

import ast
import functools
from collections.abc import Iterable

import nbformat

__all__ = ["call_graph", "solution_graph", "fix_first", "FIX_ROOT", "FIX_OWN", "FIX_STUB", "FIX_CASES",
           "FIX_NOTHING", "FIX_ALSO"]

FIX_ROOT = "fix {function} first: {dependents} {verb} it and fail too ({points:g} points in all)"
FIX_OWN = "fix {function} ({points:g} of {max_points:g} points lost)"
FIX_STUB = "{function} is not implemented yet ({points:g} points)"
FIX_CASES = "{failed} of {total} cases of {function} failed ({hidden} of them hidden)"
FIX_ALSO = "{function}: {points:g} of {max_points:g} points lost"
FIX_NOTHING = "nothing to fix: every case passed"


def call_graph(sources: Iterable[str], functions: Iterable[str]) -> dict[str, set[str]]:
    """``{f: the graded functions f calls by name}`` for each graded function the code ``sources`` define. The code
    is parsed, never run; a cell that does not parse (or nests too deep to) adds nothing."""
    names = set(functions)
    graph: dict[str, set[str]] = {}
    for source in sources:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
                called = {n.func.id for n in ast.walk(node) if isinstance(n, ast.Call)
                          and isinstance(n.func, ast.Name) and n.func.id in names}
                graph.setdefault(node.name, set()).update(called - {node.name})
    return graph


@functools.cache
def _solution_cells(assignment: str) -> tuple[str, ...]:
    from autograder.suites import assignment as registered

    a = registered(assignment)
    try:
        nb = nbformat.read(str(a.packaged_source() / a.notebook), as_version=4)
    except (OSError, ValueError):  # no source notebook installed: the student's own calls alone
        return ()
    return tuple(c.source for c in nb.cells if c.cell_type == "code"
                 and c.get("metadata", {}).get("nbgrader", {}).get("solution"))


def solution_graph(assignment: str, functions: Iterable[str]) -> dict[str, set[str]]:
    """The calls of the kit's own solutions (the source notebook's solution cells)."""
    return call_graph(_solution_cells(assignment), functions)


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every function ``start`` calls, directly or through others (``start`` itself excluded)."""
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        f = todo.pop()
        if f not in seen and f != start:
            seen.add(f)
            todo += graph.get(f, ())
    return seen


def _ordered(names: Iterable[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def fix_first(rows: list[dict], graph: dict[str, set[str]]) -> list[dict]:
    """The fix-first items, most points first. ``rows``: the page's case rows (function, score, max_score, status,
    hidden, diagnoses: ``{"name", "explanation"}`` each). Each item: ``function``, ``headline``,
    ``points`` (lost in it and in the functions attributed to it), ``cases`` (the count line), ``diagnoses`` (each
    named once, with its explanation) and ``also`` (one line per function attributed to it)."""
    order = list(dict.fromkeys(r["function"] for r in rows))
    by_fn = {f: [r for r in rows if r["function"] == f] for f in order}
    lost = {f: sum(r["max_score"] - r["score"] for r in by_fn[f]) for f in order}
    max_points = {f: sum(r["max_score"] for r in by_fn[f]) for f in order}
    failing = [f for f in order if lost[f] > 0]
    reach = {f: _reach(graph, f) & set(failing) for f in failing}
    # A root fails with no failing function below it; in a cycle of failures each stands for itself.
    roots = {f: [g for g in failing if g in reach[f] and not reach[g]] for f in failing}
    items = []
    for root in (f for f in failing if not roots[f]):
        dependents = [f for f in failing if root in roots[f]]
        points = lost[root] + sum(lost[f] for f in dependents)
        failed = [r for r in by_fn[root] if r["status"] != "passed"]
        if all(r["status"] == "stub" for r in by_fn[root]):
            headline = FIX_STUB.format(function=root, points=lost[root])
        else:
            headline = FIX_OWN.format(function=root, points=lost[root], max_points=max_points[root])
        if dependents:
            headline = FIX_ROOT.format(function=root, dependents=_ordered(dependents),
                                       verb="uses" if len(dependents) == 1 else "use", points=points)
        diagnoses = list({d["name"]: d for r in failed for d in r["diagnoses"]}.values())
        items.append({
            "function": root, "headline": headline, "points": points,
            "cases": FIX_CASES.format(failed=len(failed), total=len(by_fn[root]), function=root,
                                      hidden=sum(r["hidden"] for r in failed)),
            "diagnoses": diagnoses,
            "also": [FIX_ALSO.format(function=f, points=lost[f], max_points=max_points[f]) for f in dependents]})
    return sorted(items, key=lambda item: (-item["points"], order.index(item["function"])))
