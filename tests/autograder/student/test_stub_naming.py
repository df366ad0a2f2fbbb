"""Does a function that reaches another function's stub say which one ("convolve2d calls correlate2d, which is not
implemented yet"), in the check cell, the release's pytest and the grader's hidden cases, naming only the grader's
own function names?"""
from __future__ import annotations

import nbformat
import pytest

from autograder.notebooks import stub_regions
from autograder.student import convkit_check as cc
from autograder.suites import cases_for, freeze_public
from tests.assignments._course import source_notebook

CALLS = cc.STUB_CALLS_MESSAGE.format(function="convolve2d", stub="correlate2d")
OWN = cc.STUB_MESSAGE.format(function="convolve2d")


@pytest.fixture(scope="module")
def stubbed_correlate(tmp_path_factory):
    """The solved convolution notebook with correlate2d put back to its stub (convolve2d still calls it)."""
    book = nbformat.read(source_notebook("convolution"), as_version=4)
    for cell in book.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "correlate2d_solution":
            cell.source = stub_regions(cell.source)
    path = tmp_path_factory.mktemp("nb") / "convolution.ipynb"
    nbformat.write(book, path)
    namespace = cc.load_notebook(path)
    assert namespace[cc.CELL_ERRORS] == []
    return namespace


def _functions():
    return {c.function for c in cases_for("convolution")}


def test_a_case_names_the_inner_stub_on_public_and_hidden_cases(stubbed_correlate):
    call = lambda n, a, k: cc.call_in_namespace(stubbed_correlate, n, a, k)  # noqa: E731
    for case in [c for c in cases_for("convolution") if c.function == "convolve2d"]:
        r = cc.run_case(case, call, functions=_functions())
        assert (r.status, r.problem, r.stub) == ("stub", cc.IS_STUB, "correlate2d")
        assert CALLS in r.message and OWN not in r.message
        if case.visibility == "hidden":
            assert cc.hidden_output(r, case) == cc.HIDDEN_OUTPUT.format(status="stub") + "\n" + CALLS


def test_its_own_stub_and_a_run_without_the_names_keep_the_plain_message(stubbed_correlate):
    call = lambda n, a, k: cc.call_in_namespace(stubbed_correlate, n, a, k)  # noqa: E731
    case = next(c for c in cases_for("convolution", "visible") if c.function == "correlate2d")
    r = cc.run_case(case, call, functions=_functions())
    assert r.stub is None and cc.STUB_MESSAGE.format(function="correlate2d") in r.message
    convolve = next(c for c in cases_for("convolution", "visible") if c.function == "convolve2d")
    assert OWN in cc.run_case(convolve, call).message  # no names given: nothing the frames say is shown


def test_the_check_cell_names_the_inner_stub(stubbed_correlate, tmp_path, capsys):
    freeze_public("convolution", tmp_path)
    with pytest.raises(AssertionError) as info:
        cc.check("convolve2d", stubbed_correlate["convolve2d"], directory=tmp_path, namespace=stubbed_correlate)
    assert str(info.value) == CALLS and info.value._render_traceback_() == [CALLS]
    assert capsys.readouterr().out == ""  # one line (the error), not one report per case


def test_a_remote_stub_is_named_only_when_the_frame_names_a_graded_function():
    """The worker reports the frames (it may lie): a function name that is not one of the grader's is never shown."""
    case = next(c for c in cases_for("convolution", "hidden") if c.function == "convolve2d")

    def remote(name):
        def call(n, a, k):
            raise cc.StudentException(("NotImplementedError", "RuntimeError", "Exception"), "",
                                      frames=(("<cell 12>", 2, "convolve2d"), ("<cell 10>", 3, name)))
        return call

    named = cc.run_case(case, remote("correlate2d"), functions=_functions())
    assert cc.hidden_output(named, case).endswith(CALLS)
    for made_up in ("s3cr3t_0_25", "convolve2d"):
        r = cc.run_case(case, remote(made_up), functions=_functions())
        out = cc.hidden_output(r, case)
        assert r.stub is None and out.endswith(OWN) and "s3cr3t" not in out
