"""Nothing a student receives holds the reference, a hidden case or a solution: every released file is scanned."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from assignments.authoring import nb
from autograder.notebooks import stub_regions
from autograder.suites import cases_for
from tests.assignments._course import ASSIGNMENTS, ROOT_REFERENCE_DIRS, built_course, source_notebook
from tests.helpers import iter_arrays

pytestmark = pytest.mark.slow

# Arrays this small (a 2x2 identity, a lone zero) recur by chance in any data; larger ones are fingerprints.
MIN_SECRET_ARRAY_SIZE = 6
# Solution lines shorter than this (``return out``) are too generic to identify a solution.
MIN_SOLUTION_LINE_CHARS = 16
_IMPORT_OF_TRUSTED = re.compile(r"^\s*(from|import)\s+(reference|autograder)\b", re.MULTILINE)


@pytest.fixture(scope="session")
def released_files(tmp_path_factory) -> list[Path]:
    course = built_course(tmp_path_factory)
    return sorted(p for p in (course / "release").rglob("*") if p.is_file())


def _text(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def _case_arrays(case):
    for part in (case.args, case.kwargs, case.expected, case.data):
        yield from iter_arrays(part)


def test_no_trusted_file_or_import(released_files):
    """Is no released file a copy of a reference or suites module, and does none import them?"""
    trusted = {p.read_bytes() for d in ROOT_REFERENCE_DIRS for p in d.rglob("*.py")}
    for path in released_files:
        assert path.read_bytes() not in trusted, f"{path} is a copy of a trusted module"
        assert not _IMPORT_OF_TRUSTED.search(_text(path)), f"{path} imports the reference or the grader"


def test_no_solution_text(released_files):
    """Does no released file carry a solution region, or any distinctive line of one?"""
    for name in ASSIGNMENTS:
        book = nbformat.read(source_notebook(name), as_version=4)
        outside = set()  # lines a release legitimately keeps: signatures, docstrings, checks, teaching cells
        for cell in book.cells:
            kept = stub_regions(cell.source) if cell.cell_type == "code" else cell.source
            outside |= {line.strip() for line in kept.splitlines()}
        secret = [line for line in nb.solution_region_lines(source_notebook(name))
                  if len(line) >= MIN_SOLUTION_LINE_CHARS and not line.startswith("#") and line not in outside]
        assert secret, f"no distinctive solution line found in {name}: the scan would prove nothing"
        for path in released_files:
            text = _text(path)
            assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, path
            leaked = [line for line in secret if line in text]
            assert not leaked, f"{path} holds solution lines of {name}: {leaked}"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_no_hidden_case(released_files, name):
    """Is no hidden case's id, input or expected array in the release (arrays shared with public cases aside)?"""
    released_arrays, shipped_data = [], []
    for path in released_files:
        if path.suffix == ".npz":
            with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as data:
                arrays = [data[k] for k in data.files]
            # Data files other than the frozen cases (the cnn training digits) are shipped on purpose; the
            # held-out digits are checked by test_no_held_out_digit.
            (released_arrays if path.name == "public_cases.npz" else shipped_data).extend(arrays)
    public = [a for case in cases_for(name, "visible") for a in _case_arrays(case)] + shipped_data
    hidden = cases_for(name, "hidden")
    secrets = [a for case in hidden for a in _case_arrays(case)
               if a.size >= MIN_SECRET_ARRAY_SIZE
               and not any(p.shape == a.shape and np.array_equal(p, a) for p in public)]
    assert secrets, f"{name}: no hidden array to look for, the scan would prove nothing"
    for secret in secrets:
        assert not any(r.shape == secret.shape and np.array_equal(r, secret) for r in released_arrays)
    shipped = {(row["function"], row["case_id"]) for path in released_files if path.name == "public_cases.json"
               for row in json.loads(path.read_text())["cases"]}
    public_ids = {(case.function, case.case_id) for case in cases_for(name, "visible")}
    assert not shipped & ({(case.function, case.case_id) for case in hidden} - public_ids)


def test_no_held_out_digit(released_files):
    """Does the cnn release ship training digits only, none of the held-out digits the grader scores on?"""
    from reference.digits import load_digits_split

    x_train, _, x_test, _ = load_digits_split()
    test_rows = {row.tobytes() for row in x_test.reshape(len(x_test), -1)}
    shipped = 0
    for path in released_files:
        if path.suffix == ".npz" and path.parent.name == "cnn" and path.name != "public_cases.npz":
            with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as data:
                for key in data.files:
                    arr = data[key]
                    if arr.ndim == 4 and arr.shape[1:] == x_test.shape[1:]:
                        shipped += len(arr)
                        rows = {r.tobytes() for r in arr.astype(x_test.dtype).reshape(len(arr), -1)}
                        # identical-looking digits exist in both parts; a held-out set would match them all
                        assert len(rows & test_rows) < len(test_rows) // 10
    assert shipped == len(x_train)
