"""Does the feedback page open with what to fix first, ranked by points lost, cascades attributed to their root?

A real convolution notebook (the source notebook's solutions, output_size off by one) is graded by the real grader
in the real sandbox; its page must say "fix output_size first" with the points lost in the four functions that
use it, state each diagnosis once per function, group the failed cases by function and fold the passed ones.
"""
from __future__ import annotations

import json
import re

import nbformat
import pytest

from autograder import feedback as fb
from autograder.build import SOURCE_ROOT
from autograder.fix_first import FIX_ALSO, FIX_CASES, FIX_ROOT, FIX_STUB, call_graph, fix_first, solution_graph
from autograder.grading import grade_submission
from autograder.submissions import Submission
from autograder.suites import cases_for, points_by_function
from tests.autograder.test_feedback import page_text
from tests.helpers import student_notebook
from tests.support.layers_course import BATCH_LIMITS, replace_body

OFF_BY_ONE = """
if k > n + 2 * pad:
    raise ValueError(f"kernel of size k={k} does not fit input of size n={n} with pad={pad}")
return (n + 2 * pad - k) // stride
"""
USERS = ["correlate2d", "convolve2d", "conv2d_forward"]


def _row(function, score, max_score, status="failed", hidden=False, diagnoses=()):
    return {"function": function, "score": score, "max_score": max_score, "status": status, "hidden": hidden,
            "diagnoses": [{"name": n, "explanation": f"about {n}"} for n in diagnoses]}


def test_the_call_graph_is_read_from_code_never_run():
    """Are only graded names kept, and does code that does not parse (or would do harm if run) add nothing?"""
    code = ["def b(x):\n    return a(x) + helper(x) + b(x)\n",
            "import os\nos.system('rm -rf /')\ndef c(x): return b(a(x))", "def a(:", "(" * 200_000]
    assert call_graph(code, ["a", "b", "c"]) == {"b": {"a"}, "c": {"a", "b"}}


def test_the_kit_solutions_give_the_convolution_graph():
    graph = solution_graph("convolution", points_by_function("convolution"))
    assert {"zero_pad", "output_size"} <= graph["correlate2d"] and graph["convolve2d"] == {"correlate2d"}
    assert {"zero_pad", "output_size"} <= graph["conv2d_forward"]


def test_cascades_go_to_their_root_and_the_most_points_come_first():
    """A chain a <- b <- c (c calls b, b calls a), all failing, is one item for a; d alone is its own item."""
    rows = [_row("a", 0, 1, diagnoses=("x", "x", "y")), _row("a", 0, 1, hidden=True, diagnoses=("x",)),
            _row("b", 1, 2), _row("c", 0, 3), _row("d", 0, 4, status="stub"), _row("e", 2, 2, status="passed")]
    items = fix_first(rows, {"b": {"a"}, "c": {"b"}, "e": {"a"}})
    assert [i["function"] for i in items] == ["a", "d"]  # 2 + 1 + 3 = 6 points before d's 4
    a, d = items
    assert a["headline"] == FIX_ROOT.format(function="a", dependents="b and c", verb="use", points=6)
    assert a["also"] == [FIX_ALSO.format(function="b", points=1, max_points=2),
                         FIX_ALSO.format(function="c", points=3, max_points=3)]
    assert [x["name"] for x in a["diagnoses"]] == ["x", "y"]  # each diagnosis once
    assert a["cases"] == FIX_CASES.format(failed=2, total=2, function="a", hidden=1)
    assert d["headline"] == FIX_STUB.format(function="d", points=4)
    # A cycle of failures: each stands for itself, none is lost.
    assert {i["function"] for i in fix_first([_row("p", 0, 1), _row("q", 0, 1)], {"p": {"q"}, "q": {"p"}})} == {
        "p", "q"}


@pytest.fixture(scope="module")
def off_by_one_page(tmp_path_factory):
    course = tmp_path_factory.mktemp("fixfirst")
    nb = replace_body(student_notebook(SOURCE_ROOT / "convolution" / "convolution.ipynb"), "output_size", OFF_BY_ONE)
    path = course / "submitted" / "obo" / "convolution" / "convolution.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, str(path))
    result = grade_submission("convolution", Submission("obo", path), cases_for("convolution"), limits=BATCH_LIMITS)
    (course / "results" / "convolution").mkdir(parents=True)
    (course / "results" / "convolution" / "obo.json").write_text(json.dumps(result.to_json()))
    page = fb.write_feedback("convolution", course, pictures=False)[0].read_text()
    return result, page


def test_the_page_says_fix_output_size_first(off_by_one_page):
    result, page = off_by_one_page
    lost = {f: sum(t.max_score - t.score for t in result.tests if t.function == f) for f in ["output_size", *USERS]}
    assert all(lost.values()), lost  # the off-by-one costs points in all four functions
    # The fix-first section is the first section of the page, and its first item is output_size with all four.
    assert page.index('<section id="fix-first">') < page.index("<h2")
    section = page[page.index('<section id="fix-first">'):page.index("</section>")]
    items = [page_text(item) for item in section.split('<li class="fix">')[1:]]
    assert FIX_ROOT.format(function="output_size", dependents="correlate2d, convolve2d and conv2d_forward",
                           verb="use", points=sum(lost.values())) in items[0]
    for f in USERS:  # attributed to the root, not listed as items of their own
        assert not any(item.startswith(f"fix {f} ") for item in items), items


def test_failed_cases_are_grouped_and_passed_ones_folded(off_by_one_page):
    result, page = off_by_one_page
    body = page[page.index('<div id="cases">'):]
    for f in ["output_size", *USERS]:
        assert f'<h3 id="cases-{f}">' in body
    # rgb_to_grayscale passes every case: folded with the other passing functions, under one <details>.
    folded = body[body.index('<details id="passed-functions">'):]
    assert '<h3 id="cases-rgb_to_grayscale">' in folded[:folded.index("</details>")]
    # A diagnosis is stated once per function, however many of its cases it explains.
    for f in ["output_size", *USERS]:
        block = body[body.index(f'<h3 id="cases-{f}">'):]
        block = block[:block.index("<h3", 4)] if "<h3" in block[4:] else block
        names = re.findall(r'<div class="diag">likely mistake <b>([^<]+)</b>', block)
        assert len(names) == len(set(names)), (f, names)
