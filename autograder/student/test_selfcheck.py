"""The public cases of this assignment, one test per case (the file name does not matter)."""
from __future__ import annotations

from pathlib import Path

import pytest

from convkit_check import CELL_ERRORS, call_in_namespace, load_public_cases, run_case, stub_message

_CASES = load_public_cases(Path(__file__).resolve().parent)
_FUNCTIONS = {case.function for case in _CASES}  # a stub reached through another function is named


@pytest.mark.parametrize("case", [
    pytest.param(case, id=f"{case.function}-{case.case_id}", marks=getattr(pytest.mark, case.function))
    for case in _CASES])
def test_case(case, notebook):
    result = run_case(case, lambda name, args, kwargs: call_in_namespace(notebook, name, args, kwargs),
                      functions=_FUNCTIONS)
    if result.status == "stub":  # the same one line for every case of the function: the summary prints it once
        pytest.fail(stub_message(case.function, result.stub), pytrace=False)
    if not result.passed:
        cell_errors = [f"(cell {e['cell']} raised {e['type']}: {e['message']})" for e in notebook[CELL_ERRORS]]
        pytest.fail("\n".join([result.message, *cell_errors]), pytrace=False)
