"""autograder.notebooks: the one parser of nbgrader's solution region, on a hand-written cell and the real sources."""
from __future__ import annotations

import pytest

from autograder.build import SOURCE_ROOT
from autograder.notebooks import (STUB, UNCLOSED_MESSAGE, fill_solutions, read_notebook, regions, replace_region,
                                  solution_sources, stub_regions, without_delimiters)

CELL = """def f(x, y):
    x = check(x)
    ### BEGIN SOLUTION
    a = x + 1

    return a
    ### END SOLUTION


def g(y):
        ### BEGIN SOLUTION
        return y
        ### END SOLUTION
    # after"""


def test_regions_of_a_cell():
    first, second = regions(CELL)
    assert (first.begin, first.end, first.indent) == (2, 6, "    ")
    assert first.body == "a = x + 1\n\nreturn a"
    assert (second.indent, second.body) == ("        ", "return y")


def test_replace_strip_and_stub():
    assert replace_region(CELL, "  return 0\n", 1).split("\n")[10:14] == [
        "        ### BEGIN SOLUTION", "        return 0", "        ### END SOLUTION", "    # after"]
    student = replace_region(CELL, "return x * y", delimiters=False)
    assert student.split("\n")[:3] == ["def f(x, y):", "    x = check(x)", "    return x * y"]
    assert "SOLUTION" not in student and student.endswith("        return y\n    # after")
    assert stub_regions(CELL).split("\n") == ["def f(x, y):", "    x = check(x)", f"    {STUB}", "", "",
                                              "def g(y):", f"        {STUB}", "    # after"]
    assert "SOLUTION" not in without_delimiters(CELL)


@pytest.mark.parametrize("source, line, delimiter", [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1", 2, "### BEGIN SOLUTION"),
    ("def f():\n    return 1\n    ### END SOLUTION", 3, "### END SOLUTION"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", 2, "### BEGIN SOLUTION"),
])
def test_unbalanced_delimiters_are_named(source, line, delimiter):
    with pytest.raises(ValueError) as info:
        regions(source)
    assert str(info.value).startswith(f"line {line}: {delimiter!r} without")
    assert UNCLOSED_MESSAGE.split(":")[0] == "line {line}"


@pytest.mark.parametrize("name", ["convolution", "layers", "backprop", "cnn"])
def test_real_sources(name):
    """Every solution cell has a region; stubbing them leaves no solution code; filling keeps no delimiter."""
    book = read_notebook(SOURCE_ROOT / name / f"{name}.ipynb")
    for grade_id, source in solution_sources(book).items():
        found = regions(source)
        assert found and all(r.body.strip() for r in found), grade_id
        stubbed = stub_regions(source)
        assert stubbed.count(STUB) == len(found) and "SOLUTION" not in stubbed, grade_id
    filled = fill_solutions(book, book)
    assert not any("BEGIN SOLUTION" in c.source or "END SOLUTION" in c.source for c in filled.cells)
