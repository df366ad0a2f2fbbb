"""The student-side case runner: messages, statuses, the notebook loader, the frozen format, the scorers."""
from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder.student import convkit_check as cc
from autograder.student.convkit_check import Case, run_case

PACKAGE = Path(cc.__file__).parent
FORBIDDEN = ("reference", "autograder", "torch", "nbgrader", "matplotlib", "sklearn")


def _case(**kw) -> Case:
    base = dict(assignment="convolution", function="correlate2d", case_id="c1",
                args=(np.arange(9.0).reshape(3, 3), np.array([[0.0, 1], [2, 3]])), expected=np.array([[19.0, 25],
                                                                                                        [37, 43]]),
                arg_names=("image", "kernel"), visibility="visible")
    base.update(kw)
    return Case(**base)


def _run(case, func):
    return run_case(case, lambda name, args, kwargs: func(*args, **kwargs))


def test_imports_only_numpy_nbformat_and_the_standard_library(tmp_path):
    """Can a student import the package (and run a check) in a folder holding only it and its cases?"""
    shutil.copytree(PACKAGE, tmp_path / "convkit_check", ignore=shutil.ignore_patterns("__pycache__"))
    cc.save_cases([_case()], tmp_path)
    code = textwrap.dedent(f"""
        import sys
        import convkit_check
        import numpy as np
        convkit_check.check("correlate2d", lambda im, k: np.array([[19.0, 25], [37, 43]]), verbose=False)
        bad = [m for m in sys.modules if m.split(".")[0] in {FORBIDDEN!r}]
        print("BAD", bad)
    """)
    # -I: no PYTHONPATH, no user site, no cwd on sys.path, so the project is invisible; the folder is added back.
    out = subprocess.run([sys.executable, "-I", "-c", "import sys; sys.path.insert(0, '.')\n" + code],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "BAD []" in out.stdout


def test_a_correct_answer_passes_with_full_points():
    r = _run(_case(points=1.5), lambda im, k: np.array([[19.0, 25], [37, 43]]))
    assert (r.status, r.points, r.max_points, r.diagnoses) == ("passed", 1.5, 1.5, ())


@pytest.mark.parametrize("returned, fragment", [
    (np.zeros((3, 3)), "expected shape (2, 2), got shape (3, 3)"),
    (np.array([[19, 25], [37, 42]]), "expected a float array, got dtype int64"),  # and a wrong value beside it
    (np.array([[19.0, np.nan], [37, 43]]), "NaN or infinite"),
    (np.array([[19.0, 25], [37, 44.5]]), "worst at index (1, 1): got 44.5, expected 43, |diff| = 1.5"),
    ("text", "expected an array of shape (2, 2), got str"),
])
def test_a_wrong_answer_says_what_differs(returned, fragment):
    r = _run(_case(), lambda im, k: returned)
    assert r.status == "failed" and r.points == 0
    assert fragment in r.message
    assert "case c1 of correlate2d: image (3, 3) float64, kernel (2, 2) float64" in r.message


def test_float32_in_float32_out_is_checked_where_the_case_says_so():
    """Does a right answer in float64 for a float32 case lose exactly the dtype share, with its own status?"""
    case = _case(dtype="float32", expected=np.array([[19.0, 25], [37, 43]], dtype=np.float32), points=1.0)
    r = _run(case, lambda im, k: np.array([[19.0, 25], [37, 43]]))
    assert (r.status, r.points, r.problem) == ("dtype", 1.0 - cc.DTYPE_SHARE, cc.WRONG_DTYPE)
    assert cc.DTYPE_MESSAGE.format(what="result", expected="float32", got="float64") in r.message
    assert r.wrong == (("result", cc.WRONG_DTYPE, "float64"),)
    assert _run(case, lambda im, k: np.array([[19.0, 25], [37, 43]], dtype=np.float32)).passed


def test_a_right_integer_answer_to_a_float_case_is_a_dtype_problem_only():
    r = _run(_case(), lambda im, k: np.array([[19, 25], [37, 43]]))
    assert (r.status, r.points) == ("dtype", 1.0 - cc.DTYPE_SHARE)
    assert cc.DTYPE_KIND_MESSAGE.format(what="result", got="int64") in r.message


def test_a_wrong_dtype_never_hides_wrong_values():
    """Is an answer wrong in dtype and in values a failure that reports both (and earns nothing)?"""
    case = _case(dtype="float32", expected=np.array([[19.0, 25], [37, 43]], dtype=np.float32))
    r = _run(case, lambda im, k: np.array([[19.0, 25], [37, 44]]))
    assert (r.status, r.points, r.problem) == ("failed", 0.0, cc.WRONG_VALUES)
    assert "expected dtype float32" in r.message and "worst at index (1, 1)" in r.message


def test_every_output_of_a_tuple_follows_the_dtype_rule():
    f32 = np.float32
    expected = (np.ones((2, 2), f32), np.zeros(3, f32), np.arange(2.0, dtype=f32))
    case = _case(function="dense_backward", expected=expected, output_names=("dx", "dw", "db"), dtype="float32",
                 points=0.5)
    r = _run(case, lambda *a: (np.ones((2, 2), f32), np.zeros(3), np.arange(2.0)))
    assert (r.status, r.points) == ("dtype", 0.5 * (1 - cc.DTYPE_SHARE))
    assert [w[0] for w in r.wrong] == ["dw", "db"]
    hidden = cc.hidden_output(r, case)
    assert cc.DTYPE_MESSAGE.format(what="dw", expected="float32", got="float64") in hidden
    assert "dx" not in hidden


def test_a_wrong_dtype_answer_that_matches_a_mistake_is_diagnosed():
    flipped = np.array([[5.0, 11], [23, 29]], dtype=np.float32)
    case = _case(dtype="float32", expected=np.array([[19.0, 25], [37, 43]], dtype=np.float32),
                 diagnoses={"flipped_kernel": flipped}, explanations={"flipped_kernel": "no flip"})
    r = _run(case, lambda im, k: flipped.astype(np.float64))
    assert (r.status, r.diagnoses) == ("failed", ("flipped_kernel",))
    assert cc.DIAGNOSIS_MESSAGE.format(name="flipped_kernel", explanation="no flip") in cc.hidden_output(r, case)


def test_none_stub_exception_timeout_and_missing_each_have_their_status():
    def stub(im, k):
        raise NotImplementedError()

    def broken(im, k):
        return im[10]

    assert _run(_case(), lambda im, k: None).message.endswith(cc.NONE_MESSAGE.format(function="correlate2d"))
    r = _run(_case(), stub)
    assert r.status == "stub" and cc.STUB_MESSAGE.format(function="correlate2d") in r.message
    r = _run(_case(), broken)
    assert r.status == "error" and "IndexError" in r.message and "return im[10]" in r.message
    assert str(PACKAGE) not in r.message  # the traceback is trimmed to the student's frames

    def timeout(name, args, kwargs):
        raise cc.CallTimeout()

    def missing(name, args, kwargs):
        raise cc.FunctionMissing(name)

    assert run_case(_case(), timeout).status == "timeout"
    r = run_case(_case(), missing)
    assert r.status == "missing" and cc.MISSING_MESSAGE.format(function="correlate2d") in r.message


@pytest.mark.parametrize("raised, raises, status", [
    (ValueError("kernel too big"), ("ValueError",), "passed"),
    (TypeError("not an array"), ("ValueError",), "failed"),
    (TypeError("not an array"), ("ValueError", "TypeError"), "passed"),
    (None, ("ValueError",), "failed"),
])
def test_a_bad_input_case_passes_only_on_the_named_exception(raised, raises, status):
    def func(im, k):
        if raised is not None:
            raise raised
        return np.zeros((2, 2))

    assert _run(_case(kind="raises", raises=raises, expected=None), func).status == status


def test_a_remote_exception_counts_like_a_local_one():
    def call(name, args, kwargs):
        raise cc.StudentException(["ValueError", "Exception"], "bad pad", "  File \"<cell 3>\", line 2\n")

    assert run_case(_case(kind="raises", raises=("ValueError",), expected=None), call).status == "passed"
    r = run_case(_case(), call)
    assert r.status == "error" and "<cell 3>" in r.message and "ValueError: bad pad" in r.message


def test_a_diagnosis_is_named_only_when_the_answer_matches_the_mistake():
    flipped = np.array([[5.0, 11], [23, 29]])
    case = _case(diagnoses={"flipped_kernel": flipped}, explanations={"flipped_kernel": "no flip"})
    r = _run(case, lambda im, k: flipped)
    assert r.diagnoses == ("flipped_kernel",)
    assert cc.DIAGNOSIS_MESSAGE.format(name="flipped_kernel", explanation="no flip") in r.message
    assert _run(case, lambda im, k: flipped + 1).diagnoses == ()


def test_every_mistake_an_answer_matches_is_named_in_the_cases_order_and_a_hidden_case_explains_each():
    flipped = np.array([[5.0, 11], [23, 29]])
    case = _case(visibility="hidden", diagnoses={"flipped_kernel": flipped, "rotated_kernel": flipped},
                 explanations={"flipped_kernel": "no flip", "rotated_kernel": "rotated"})
    r = _run(case, lambda im, k: flipped)
    assert r.diagnoses == ("flipped_kernel", "rotated_kernel")
    assert cc.hidden_output(r, case).splitlines()[-2:] == [
        cc.DIAGNOSIS_MESSAGE.format(name="flipped_kernel", explanation="no flip"),
        cc.DIAGNOSIS_MESSAGE.format(name="rotated_kernel", explanation="rotated")]


def test_tuples_are_compared_element_by_element_and_named():
    expected = (np.ones((2, 2)), np.zeros(3), np.arange(2.0))
    case = _case(function="dense_backward", expected=expected, output_names=("dx", "dw", "db"),
                 diagnoses={"mean_instead_of_sum": (np.ones((2, 2)), np.zeros(3), np.arange(2.0) / 2)})
    r = _run(case, lambda *a: (np.ones((2, 2)), np.ones(3), np.arange(2.0) / 2))
    assert "dw:" in r.message and "db:" in r.message and "dx:" not in r.message
    assert r.diagnoses == ("mean_instead_of_sum",)  # the mistake's own output matches; dw is wrong on top


def test_nan_where_a_number_is_expected_never_matches_an_overflow_diagnosis_by_accident():
    case = _case(diagnoses={"softmax_overflow": np.full((2, 2), np.nan)})
    assert _run(case, lambda im, k: np.ones((2, 2))).diagnoses == ()
    assert _run(case, lambda im, k: np.full((2, 2), np.nan)).diagnoses == ("softmax_overflow",)


def test_the_case_inputs_survive_a_function_that_writes_into_them():
    case = _case()
    before = case.args[0].copy()

    def vandal(im, k):
        im[:] = 0
        return np.array([[19.0, 25], [37, 43]])

    assert _run(case, vandal).passed
    np.testing.assert_array_equal(case.args[0], before)


def test_encoding_round_trips_arrays_tuples_dicts_scalars_and_callables(tmp_path):
    value = {"p": (np.arange(3), np.float32(2.5), [1, "a", None]), "f": cc.CALLABLES["square"],
             "r": cc.Raises(("ValueError",))}
    tree, arrays = cc.codec.encode(value, cc.CASE_CAPS, named=True)
    back = cc.codec.decode(tree, [cc.codec.to_npy(a) for a in arrays], cc.CASE_CAPS, named=True)
    assert isinstance(back["p"], tuple) and back["f"] is cc.CALLABLES["square"] and back["r"] == value["r"]
    assert back["p"][1] == np.float32(2.5) and back["p"][1].dtype == np.float32
    np.testing.assert_array_equal(back["p"][0], np.arange(3))
    cc.save_cases([_case(kwargs={"stride": (1, 2)})], tmp_path)
    (loaded,) = cc.load_cases(tmp_path)
    assert loaded.kwargs == {"stride": (1, 2)} and loaded.arg_names == ("image", "kernel")


def test_the_codec_keeps_named_values_and_pickles_out_where_they_are_not_allowed():
    """Are the named test functions and Raises decoded only where allowed, and an object array never loaded?"""
    codec, caps = cc.codec, cc.codec.Caps(array_bytes=64)
    for tree in ({"$fn": "square"}, {"$raises": ["ValueError"]}, {"$fn": "os.system"}, {"$nd": 0}, {"$nd": True}):
        with pytest.raises(codec.CodecError):
            codec.decode(tree, [], caps)
    with pytest.raises(codec.CodecError):
        codec.decode({"$fn": "not-a-test-function"}, [], caps, named=True)
    for value in (np.sin, cc.Raises(("ValueError",)), np.array(["text"]), np.zeros(9), {1: 2}):
        with pytest.raises(codec.CodecError):
            codec.encode(value, caps)
    buf = io.BytesIO()
    np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(codec.CodecError, match="valid numeric .npy"):
        codec.decode({"$nd": 0}, [buf.getvalue()], caps)
    with pytest.raises(codec.CodecError, match="used twice"):
        codec.decode([{"$nd": 0}, {"$nd": 0}], [np.zeros(2)], caps)


def test_a_case_file_of_another_format_is_refused_naming_it(tmp_path):
    """Does a public_cases.json of another format version fail with the message that names the file?"""
    cc.save_cases([_case()], tmp_path)
    doc = json.loads((tmp_path / cc.PUBLIC_JSON).read_text())
    assert doc["format"] == cc.FORMAT_VERSION == 2
    doc["format"] = 1
    (tmp_path / cc.PUBLIC_JSON).write_text(json.dumps(doc))
    with pytest.raises(ValueError) as info:
        cc.load_cases(tmp_path)
    assert str(info.value) == cc.CASE_FORMAT_MESSAGE.format(path=tmp_path / cc.PUBLIC_JSON, found=1, expected=2)


def _notebook(path, cells):
    nb = nbformat.v4.new_notebook()
    for source, meta in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata.update(meta)
        nb.cells.append(cell)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("# title"))
    nbformat.write(nb, str(path))
    return path


def test_the_loader_skips_test_and_demo_cells_comments_magics_and_survives_a_broken_cell(tmp_path):
    path = _notebook(tmp_path / "a.ipynb", [
        ("%matplotlib inline\nimport numpy as np\n!ls\nA = 1", {}),
        ("raise RuntimeError('boom')", {}),
        ("def f(x):\n    return x + A", {"nbgrader": {"grade": False, "solution": True, "grade_id": "f"}}),
        ("assert False, 'a test cell must not run'", {"nbgrader": {"grade": True, "solution": False}}),
        ("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\nSHOWN = True", {"tags": ["convkit-demo"]}),
        ("import matplotlib.pyplot as plt\nplt.figure(); plt.show()\nget_ipython().run_line_magic('x', '')\nB = 2",
         {}),
    ])
    source = cc.notebook_source(path)
    assert "# %matplotlib inline" in source and "# !ls" in source
    ns = cc.load_notebook(path)
    assert ns["f"](1) == 2 and ns["B"] == 2 and "SHOWN" not in ns
    assert ns[cc.CELL_ERRORS] == [{"cell": 3, "type": "RuntimeError", "message": "boom"}]


def test_check_prints_each_case_and_the_public_hidden_summary(tmp_path, capsys):
    cc.save_cases([_case(), _case(case_id="c2")], tmp_path)
    # Returns nothing: a check cell's last value would be shown under the report (and read by stock nbgrader).
    assert cc.check("correlate2d", lambda im, k: np.array([[19.0, 25], [37, 43]]), directory=tmp_path) is None
    out = capsys.readouterr().out
    assert cc.SUMMARY_MESSAGE.format(passed=2, total=2) in out and out.count("[passed]") == 2

    def stub(im, k):
        raise NotImplementedError()

    # A stub is one line, the error itself, not one report per case.
    with pytest.raises(cc.CheckFailed) as info:
        cc.check("correlate2d", stub, directory=tmp_path)
    assert str(info.value) == cc.STUB_MESSAGE.format(function="correlate2d") and capsys.readouterr().out == ""
    # IPython shows an exception with _render_traceback_ as those lines only: no traceback into convkit_check.
    assert info.value._render_traceback_() == [cc.STUB_MESSAGE.format(function="correlate2d")]

    with pytest.raises(cc.CheckFailed) as info:
        cc.check("correlate2d", lambda im, k: np.zeros((2, 2)), directory=tmp_path)
    out = capsys.readouterr().out
    assert cc.SUMMARY_MESSAGE.format(passed=0, total=2) in out and out.count("[FAILED]") == 2
    assert str(info.value) == cc.CHECK_FAILED_MESSAGE.format(failed=2, total=2, function="correlate2d")


KERNEL_SCORES = [  # (kernel, fraction of the points, the mistake named)
    # Honest answers to the task (an edge along the main diagonal, dark below-left, bright above-right): full marks.
    ([[0, 1, 2], [-1, 0, 1], [-2, -1, 0]], 1.0, None),       # the hint: sobel_x turned by 45 degrees (the solution)
    ([[0, 3, 6], [-3, 0, 3], [-6, -3, 0]], 1.0, None),       # ... scaled up
    ([[0, .25, .5], [-.25, 0, .25], [-.5, -.25, 0]], 1.0, None),  # ... scaled down
    ([[0, 1, 1], [-1, 0, 1], [-1, -1, 0]], 1.0, None),       # a diagonal Prewitt
    ([[0, 1, 0], [-1, 0, 1], [0, -1, 0]], 1.0, None),        # up and right against down and left
    # Wrong ones lose points, each for its criterion, the cause named.
    ([[0, -1, -2], [1, 0, -1], [2, 1, 0]], 0.2, cc.KERNEL_WRONG_SIGN),           # bright below-left
    ([[-2, -1, 0], [-1, 0, 1], [0, 1, 2]], 0.2, cc.KERNEL_OTHER_DIAGONAL),       # the transposed orientation
    ([[1, 0, -1], [0, 0, 0], [-1, 0, 1]], 0.2, cc.KERNEL_BOTH_POLARITIES),       # KERNELS["edge_diagonal"], copied
    ([[0, 1, -1], [-1, 0, 1], [1, -1, 0]], 0.6, cc.KERNEL_BOTH_POLARITIES),      # +1 at the edge, -1 beside it
    ([[0, 0, 1], [0, 0, 0], [-1, 0, 0]], 0.6, cc.KERNEL_STRAIGHT),               # two pixels: straight edges as much
    ([[1, 0, -1], [2, 0, -2], [1, 0, -1]], 0.2, cc.KERNEL_STRAIGHT),             # sobel_x: vertical edges
    ([[.3, 1.3, 2.3], [-.7, .3, 1.3], [-1.7, -.7, .3]], 0.8, cc.KERNEL_NOT_ZERO_SUM),  # the hint plus an offset
    ([[1, 1, 1], [1, 1, 1], [1, 1, 1]], 0.0, cc.KERNEL_NOT_ZERO_SUM),            # box blur: answers flat regions
    ([[0, 0, 0], [0, 0, 0], [0, 0, 0]], 0.0, None),
]


@pytest.mark.parametrize("kernel, fraction, mistake", KERNEL_SCORES)
def test_the_kernel_design_scorer_gives_full_marks_to_honest_kernels_and_names_wrong_ones(kernel, fraction, mistake):
    """Does every kernel that does what the notebook asks earn full marks, and a wrong one lose its criteria's
    points with its cause named (on the public case and the hidden, noisy one)?"""
    from autograder.suites import cases_for

    for case in [c for c in cases_for("convolution") if c.function == "diagonal_edge_kernel"]:
        r = run_case(case, lambda name, args, kwargs: np.array(kernel, dtype=float))
        assert r.points == pytest.approx(fraction * case.points)
        assert r.passed == (fraction == 1.0)
        assert r.diagnoses == ((mistake,) if mistake else ())
        if mistake:
            assert cc.DIAGNOSIS_MESSAGE.format(name=mistake, explanation=case.explanations[mistake]) in r.message


def test_the_kernel_design_scorer_says_which_criterion_failed():
    """Does a failed criterion show its own message with the measured numbers?"""
    from autograder.suites import cases_for

    case = next(c for c in cases_for("convolution", "visible") if c.function == "diagonal_edge_kernel")
    r = run_case(case, lambda name, args, kwargs: np.array([[0, -1, -2], [1, 0, -1], [2, 1, 0]], dtype=float))
    assert cc.KERNEL_SIGN_MESSAGE.split("{")[0] in r.message
    assert cc.KERNEL_ORIENTATION_MESSAGE.split("{")[0] in r.message
    assert cc.KERNEL_FLAT_MESSAGE.split("{")[0] not in r.message
    zero = run_case(case, lambda name, args, kwargs: np.zeros((3, 3)))
    assert cc.KERNEL_ZERO_MESSAGE in zero.message and zero.points == 0
