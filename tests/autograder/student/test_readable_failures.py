"""Can a first-year read a failure? Small arrays drawn whole (answer beside expected, differing cells marked, -0 as
0), bigger ones summarised, a public case that says what it is and how to load it, nothing of that on a hidden one."""
from __future__ import annotations

import numpy as np
import pytest

from autograder.student import convkit_check as cc
from autograder.suites import cases_for


def _public(function: str, case_id: str) -> cc.Case:
    return next(c for a in ("convolution", "layers") for c in cases_for(a, "visible")
                if (c.function, c.case_id) == (function, case_id))


def _run(case, answer):
    return cc.run_case(case, lambda name, args, kwargs: answer)


def test_a_small_wrong_answer_is_drawn_whole_with_the_differing_cells_marked():
    case = _public("correlate2d", "sharpen-pad1")
    got = case.expected.copy()
    got[4, 0], got[0, 4] = 5.0, -0.0  # the slide's erratum; a -0 where 0 is expected is right, and prints as 0
    message = _run(case, got).message
    grid = cc.side_by_side(got, case.expected, np.abs(got - case.expected) > 0.5)
    assert grid in message and sum(row.count(cc.GRID_MARK) for row in grid.splitlines()[1:]) == 1
    assert "-0" not in grid and cc.GRID_LEGEND.format(mark=cc.GRID_MARK) in grid
    rows = grid.splitlines()[1:]
    assert rows[4].split()[:6] == ["5*", "2", "2", "3", "3", "4"]  # the answer's row, then the expected one


def test_a_wrong_shape_is_drawn_too_and_a_big_array_keeps_the_summary():
    case = _public("correlate2d", "sharpen-pad1")
    short = _run(case, case.expected[:4]).message
    assert cc.SHAPE_MESSAGE.format(what="result", expected=(5, 5), got=(4, 5)) in short
    grid = short[short.index("your answer"):]
    assert cc.GRID_MARK not in grid and "expected" in grid.splitlines()[0]  # drawn, nothing marked
    big = cc.Case(assignment="x", function="relu", case_id="big", args=(np.zeros((9, 9)),),
                  expected=np.zeros((9, 9)), visibility="visible")
    message = _run(big, np.ones((9, 9))).message
    assert cc.MAX_GRID_ELEMENTS < 81 and "your answer" not in message and "worst at index" in message


def test_a_public_case_says_what_it_is_and_how_to_load_it():
    case = _public("correlate2d", "sharpen-pad1")
    message = _run(case, case.expected[:4]).message
    assert cc.CASE_ABOUT_MESSAGE.format(description="the sharpen kernel with one ring of zero padding, "
                                                    "deck 002") in message
    call = cc.CASE_CALL.format(function="correlate2d")
    assert cc.CASE_LOAD_MESSAGE.format(function="correlate2d", case_id="sharpen-pad1", call=call) in message


@pytest.mark.parametrize("assignment", ["convolution", "layers", "backprop", "cnn"])
def test_every_public_case_is_described(assignment):
    assert [c.case_id for c in cases_for(assignment, "visible") if not c.description] == []


def test_a_hidden_case_shows_no_grid_no_description_and_no_load_line():
    case = next(c for c in cases_for("convolution", "hidden") if c.function == "correlate2d" and c.kind == "array")
    case = cc.Case(**{**case.__dict__, "description": "SECRET description"})
    got = np.asarray(case.expected) + 1.0
    result = _run(case, got)
    assert cc.about_case(case) == []
    shown = cc.hidden_output(result, case)
    assert "your answer" not in shown and "load_case" not in shown and "SECRET" not in shown
    assert cc.GRID_MARK not in shown


def test_load_case_names_the_known_ids(tmp_path):
    case = _public("correlate2d", "sharpen-pad1")
    cc.save_cases([case], tmp_path)
    loaded = cc.load_case("correlate2d", "sharpen-pad1", tmp_path)
    assert np.array_equal(loaded.args[0], case.args[0]) and loaded.kwargs == {"pad": 1}
    with pytest.raises(LookupError, match="sharpen-pad1"):
        cc.load_case("correlate2d", "nope", tmp_path)


def test_a_gradient_check_names_the_right_parameters_beside_the_wrong_ones():
    """The capstone's public gradient case: with two parameters' gradients wrong, the message says which are right."""
    case = next(c for c in cases_for("cnn", "visible") if c.function == "cnn_loss_and_grads")
    loss, grads = case.expected
    broken = {k: (v * 2.0 if k in ("w1", "b3") else v) for k, v in grads.items()}
    result = _run(case, (loss, broken))
    right = ", ".join(f"grads[{k!r}]" for k in grads if k not in ("w1", "b3"))
    wrong = ", ".join(f"grads[{k!r}]" for k in grads if k in ("w1", "b3"))
    assert result.status == "failed"
    assert cc.PARTS_MESSAGE.format(what="grads", right=right, wrong=wrong) in result.message
    only_loss = _run(case, (loss * 2.0, grads)).message
    assert cc.PARTS_MESSAGE.format(what="result", right="grads", wrong="loss") in only_loss
    assert "grads: right:" not in only_loss  # every gradient right: no line about them
