"""What convkit_check reports: the statuses of a case, the problems the grader finds, and every message a student
reads (tests import and match these)."""
from __future__ import annotations

STATUSES = ("passed", "dtype", "failed", "error", "stub", "timeout", "missing", "unconfirmed")

# ---- problems: what run_case found wrong, computed by the grader (all that a hidden case reports) ----
WRONG_TYPE, WRONG_SHAPE, NON_FINITE, WRONG_VALUES, WRONG_DTYPE = (
    "wrong-type", "wrong-shape", "non-finite", "wrong-values", "wrong-dtype")
RETURNED_NONE, RAISED, NOT_RAISED, WRONG_EXCEPTION = "returned-none", "raised", "did-not-raise", "wrong-exception"
TIMED_OUT, NOT_DEFINED, IS_STUB, LOW_SCORE = "timeout", "missing", "stub", "low-score"
UNCONFIRMED = "unconfirmed"  # credit(): a public or bad-input case of a function that passed no hidden case
ANSWER_PROBLEMS = (WRONG_TYPE, WRONG_SHAPE, NON_FINITE, WRONG_VALUES, WRONG_DTYPE)  # most severe first
PROBLEMS = ANSWER_PROBLEMS + (RETURNED_NONE, RAISED, NOT_RAISED, WRONG_EXCEPTION, TIMED_OUT, NOT_DEFINED, IS_STUB,
                              LOW_SCORE, UNCONFIRMED)

# ---- messages a student reads (tests import and match these) ----
STUB_MESSAGE = ("{function} is not implemented yet: replace `raise NotImplementedError()` in its solution cell "
                "with your code")
# A stub reached through another function (convolve2d implemented, correlate2d still a stub): the innermost one named.
STUB_CALLS_MESSAGE = ("{function} calls {stub}, which is not implemented yet: replace `raise NotImplementedError()` "
                      "in {stub}'s solution cell with your code")
NONE_MESSAGE = "{function} returned None: did you forget `return`?"
MISSING_MESSAGE = ("{function} is not defined: run its solution cell (and the cells above it) without errors, and "
                   "keep the name {function}")
CELL_ERROR_MESSAGE = "cell {cell} raised {type}: {message}"
TIMEOUT_MESSAGE = "{function} did not finish within the time limit on this case (an endless loop?)"
EXCEPTION_MESSAGE = "{function} raised {type}: {message}"
CASE_HEADER = "case {case_id} of {function}: {inputs}"
# Below a public case's header: what it is, and the one line that loads its inputs (convkit_check.load_case).
CASE_ABOUT_MESSAGE = "this case: {description}"
CASE_LOAD_MESSAGE = ("to try it: from convkit_check import load_case; case = load_case(\"{function}\", "
                     "\"{case_id}\"); then {call}")
CASE_CALL = "{function}(*case.args, **case.kwargs) should equal case.expected"
CASE_INDEX = "{function}[case.args[0]] should equal case.expected"
CASE_SCORED = "{function}(*case.args, **case.kwargs)"
NO_CASE_MESSAGE = "no public case {case_id!r} of {function} in {path}; its public cases: {known}"
# A check cell whose function is still a stub (or reaches one) says so once, not once per case.
CHECK_FAILED_MESSAGE = "{failed} of {total} public cases of {function} failed: the reports above say which and why"
SHAPE_MESSAGE = "{what}: expected shape {expected}, got shape {got}"
TYPE_MESSAGE = "{what}: expected {expected}, got {got}"
DTYPE_KIND_MESSAGE = "{what}: expected a float array, got dtype {got} (integer arithmetic truncates)"
DTYPE_MESSAGE = "{what}: expected dtype {expected} (the dtype of the input), got {got}"
NONFINITE_MESSAGE = ("{what}: {count} element(s) are NaN or infinite where the expected value is finite, "
                     "first at {index}")
VALUE_MESSAGE = ("{what}: {count} of {size} element(s) differ; worst at index {index}: got {got}, expected "
                 "{expected}, |diff| = {diff:.3g} > tolerance {tol:.3g}")
# Small arrays drawn whole (grid.py): the header over the two grids, the legend of the mark, the mark itself.
GRID_HEADER = "  {got}{gap}expected"
GRID_LEGEND = "    ({mark} marks the cells that differ)"
GRID_MARK = "*"
EXACT_MESSAGE = "{what}: expected {expected!r}, got {got!r}"
KEYS_MESSAGE = "{what}: expected keys {expected}, got keys {got}"
PARTS_MESSAGE = "{what}: right: {right}; wrong: {wrong}"
RAISES_MESSAGE = "expected {function} to raise {expected} for this bad input, but it returned a {got}"
WRONG_EXCEPTION_MESSAGE = "expected {function} to raise {expected} for this bad input, got {type}: {message}"
DIAGNOSIS_MESSAGE = "likely mistake ({name}): {explanation}"
PROVIDED_CHECK_MESSAGE = ("the input checks of {function} are given in its cell; they earn points once {function} "
                          "itself is implemented")
UNCONFIRMED_MESSAGE = ("this public case earns its points when {function} also gets the grader's variant of it right "
                       "(the same call on inputs of the grader's making, graded with the hidden cases): the public "
                       "answers alone are not an implementation")
UNCONFIRMED_CHECK_MESSAGE = ("rejecting bad input earns points once {function} also computes a right answer on an "
                             "ordinary case")
SUMMARY_MESSAGE = "{passed} of {total} public cases passed — hidden cases are graded too"
NO_CASES_MESSAGE = "no public cases for {function} in {path}"
SCORE_MESSAGE = "{what}: {detail}"
DTYPE_POINTS_MESSAGE = ("the values are right, only the dtype is wrong: {points:g} of {max_points:g} points (a wrong "
                        "dtype costs {share:.0%} of a case)")
# The kernel-design scorer (runner._score_kernel_response): one message per criterion it failed, and the names of
# the mistakes it recognises (the suite gives their explanations).
KERNEL_NOT_ZERO_SUM, KERNEL_WRONG_SIGN, KERNEL_BOTH_POLARITIES = (
    "kernel_not_zero_sum", "kernel_wrong_sign", "kernel_both_polarities")
KERNEL_OTHER_DIAGONAL, KERNEL_STRAIGHT = "kernel_other_diagonal", "kernel_answers_straight_edges"
KERNEL_FLAT_MESSAGE = ("flat regions: response {flat:.3g}, at most {ratio:g} x the kernel's norm x the contrast = "
                       "{limit:.3g} allowed (make the weights sum to 0)")
KERNEL_SIGN_MESSAGE = ("sign: the edge asked for (along the main diagonal, dark below-left, bright above-right) gets "
                       "{target:.3g}, at least {limit:.3g} needed ({ratio:g} x norm x contrast); the same edge with "
                       "its colours swapped gets {reversed:.3g}, at most {reversed_ratio:g} x {target:.3g} allowed")
KERNEL_ZERO_MESSAGE = "every weight is 0: the kernel answers nothing"
KERNEL_ORIENTATION_MESSAGE = ("orientation: the other diagonal (top-right to bottom-left) gets {other:.3g}, at most "
                              "{other_ratio:g} x {target:.3g} allowed; horizontal and vertical edges get "
                              "{straight:.3g}, at most {straight_ratio:g} x {target:.3g} allowed")
NUMPY_VERSION_MESSAGE = ("warning: you run NumPy {here}, the grader NumPy {grader} (the public cases were frozen with "
                         "it); code can behave differently across NumPy major versions (from NumPy 2 on, putting a "
                         "size-1 array into one element is an error), so install the grader's: "
                         "python -m pip install \"numpy>={major},<{next}\"")
# What a hidden case says (beside its name): its status, then the grader's own findings, never the student's values.
HIDDEN_OUTPUT = "hidden case: {status}"
HIDDEN_PROBLEM_MESSAGES = {
    WRONG_TYPE: "{what}: not the kind of value expected (an array, a tuple of arrays, a number)",
    WRONG_SHAPE: "{what}: wrong shape",
    NON_FINITE: "{what}: NaN or infinite values where the expected values are finite",
    WRONG_VALUES: "{what}: right shape, wrong values",
    RETURNED_NONE: NONE_MESSAGE,
    RAISED: "{function} raised {type}",
    NOT_RAISED: "expected {function} to raise {expected} for this bad input, but it returned a value",
    WRONG_EXCEPTION: "expected {function} to raise {expected} for this bad input, but it raised {type}",
    TIMED_OUT: TIMEOUT_MESSAGE,
    NOT_DEFINED: MISSING_MESSAGE,
    IS_STUB: STUB_MESSAGE,
    LOW_SCORE: "{points:g} of {max_points:g} points by the case's measure",
    UNCONFIRMED: UNCONFIRMED_CHECK_MESSAGE,
}
HIDDEN_LINE_MESSAGE = "at cell {cell}, line {lineno}: {text}"
NOT_BUILTIN = "an exception that is not a built-in one (or the worker crashed)"
CASE_FORMAT_MESSAGE = ("{path} holds cases in format {found!r}; this convkit_check reads format {expected}: take the "
                       "case files and convkit_check from the same release")
