"""Is any text from a result or a notebook made safe for a UTF-8 page, a CSV cell and a student's eyes?"""
from __future__ import annotations

import csv
import io

import pytest

from autograder import safe_text as st


class _Hostile:
    def __str__(self):
        raise RuntimeError("no")


@pytest.mark.parametrize("value, expected", [
    ("a\ud800b", "a\ufffdb"),                        # a lone surrogate (valid in JSON, not in UTF-8)
    ("\udcff\udc80", "\ufffd\ufffd"),                # surrogateescape'd bytes of a file name
    ("x\x00y\x1bz\x7f\x85", "x\ufffdy\ufffdz\ufffd\ufffd"),  # NUL, ESC, DEL, a C1 control
    ("keep\ttabs\nand\rbreaks", "keep\ttabs\nand\rbreaks"),
    ("abc\u202edcba", "abc\ufffddcba"),              # a bidi override reorders what a reader sees
    (None, ""),
    (b"ok \xff", "ok \ufffd"),
    (12.5, "12.5"),
    ({"k": ["\ud800"]}, "{'k': ['\\ud800']}"),       # a container's repr escapes it already
])
def test_safe_text_replaces_what_no_page_can_hold(value, expected):
    assert st.safe_text(value) == expected
    st.safe_text(value).encode("utf-8")


def test_safe_text_never_raises_for_unprintable_values():
    assert st.safe_text(10 ** 5000) == "<unprintable int>"       # over Python's int -> str digit limit
    assert st.safe_text(_Hostile()) == "<unprintable _Hostile>"


def test_safe_text_caps_the_length_and_marks_the_cut():
    assert st.safe_text("x" * 10, 10) == "x" * 10
    assert st.safe_text("x" * 11, 10) == "x" * 9 + st.CUT_MARK
    assert len(st.safe_text("\ud800" * 10 ** 6, 50)) == 50
    with pytest.raises(ValueError, match="cap must be at least 1"):
        st.safe_text("x", 0)


def test_safe_line_is_one_line():
    assert st.safe_line("a\tb\r\n\nc\ud800") == "a b c\ufffd"


@pytest.mark.parametrize("value, expected", [(3, 3.0), (2.5, 2.5), ("4", 0.0), (True, 0.0), (None, 0.0),
                                             (float("nan"), 0.0), (float("inf"), 0.0), (10 ** 400, 0.0)])
def test_safe_number(value, expected):
    assert st.safe_number(value) == expected


# Ids a student can choose (an exchange folder name), as a spreadsheet would run them, and the cell read back.
FORMULA_IDS = [('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'), ("+1", "'+1"), ("-2+3", "'-2+3"),
               ("@SUM(1)", "'@SUM(1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("a,b", "a,b"), ('q"uote', 'q"uote'),
               ("plain", "plain")]


@pytest.mark.parametrize("raw, cell", FORMULA_IDS)
def test_csv_cell_neutralises_formulas(raw, cell):
    """Does a cell starting with = + - @ tab or CR get a leading quote, and read back exactly (csv quoting)?"""
    buf = io.StringIO(newline="")
    csv.writer(buf).writerow([st.csv_cell(raw), st.csv_cell(1.5)])
    assert list(csv.reader(io.StringIO(buf.getvalue(), newline=""))) == [[cell, "1.5"]]


def test_csv_cell_keeps_numbers_numbers():
    assert [st.csv_cell(x) for x in (45.0, 0.5, -2.0, 3)] == ["45", "0.5", "-2", "3"]


@pytest.mark.parametrize("text, expected", [
    ("FileNotFoundError: /home/instructor/course/results/.unzipped/x-1a2b/zed_layers.ipynb",
     "FileNotFoundError: zed_layers.ipynb"),
    ("in /home/my course/submitted/ada/layers/layers.ipynb", "in layers.ipynb"),   # a root with a space
    ("course at /home/my course", "course at \u2026"),
    ("C:\\Users\\me\\course\\a.ipynb failed", "a.ipynb failed"),
    ("see http://x.org/a/b, 1/2/3, H/W and dout / 2", "see http://x.org/a/b, 1/2/3, H/W and dout / 2"),
])
def test_hide_paths_keeps_file_names_only(text, expected):
    assert st.hide_paths(text, ["/home/my course"]) == expected
