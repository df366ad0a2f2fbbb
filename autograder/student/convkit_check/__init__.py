"""convkit's case runner: the one piece of comparison code that the student's self-check and the grader share.

Shipped into every release folder beside the notebook (this folder), so it imports only NumPy, nbformat and the
standard library. Its modules, one per section:

* :mod:`.codec` -- the one encoding of values (case files and the grader's sandbox): a JSON tree plus numeric
  arrays, never a pickle; the named test functions (:data:`CALLABLES`) and :class:`Raises`.
* :mod:`.cases` -- :class:`Case` (a graded case as data), :class:`CaseResult`, the case files: public cases live in
  ``public_cases.json`` + ``public_cases.npz`` beside this folder (:func:`save_cases`, :func:`load_cases`).
* :mod:`.messages` -- the statuses, the problems the grader finds and every message a student reads.
* :mod:`.calls` -- ``call_in_namespace(namespace, name, args, kwargs)``, the calling rule, and the exceptions by
  which the grader's sandbox proxy reports a remote failure (:class:`StudentException`, :class:`CallTimeout`,
  :class:`FunctionMissing`). The sandbox worker runs this module's source, and no other of this package.
* :mod:`.notebook` -- ``load_notebook(path)`` / ``notebook_source(path)``: the code a submission defines.
* :mod:`.grid` -- small arrays drawn whole as text, the answer beside the expected one, differing cells marked.
* :mod:`.compare` -- comparing an answer with the expected one, naming a known mistake, the student's own line.
* :mod:`.runner` -- ``run_case(case, call, cells)`` (one graded case -> :class:`CaseResult`; ``cells``, the
  grader's copy of the notebook, names the student's line where the function raised), ``hidden_output`` (what a
  hidden case tells: its status, the problem the grader found, never a value or a string the student's code made),
  ``credit`` (when public cases earn their points) and ``check("correlate2d", correlate2d)`` (a check cell);
  ``load_case("correlate2d", "sharpen-pad1")`` (:mod:`.cases`) hands a student one public case to rerun by hand.

The dtype rule, the same for every function and every output of a tuple or dict: a float array result has the
case's dtype, the dtype of its floating inputs (float32 in, float32 out). Right values in another dtype earn the
case's points less :data:`DTYPE_SHARE` (status "dtype").
"""
from . import codec
from .calls import CallTimeout, FunctionMissing, StudentException, call_in_namespace
from .cases import (ATOL_FLOAT32, ATOL_FLOAT64, CASE_CAPS, FORMAT_VERSION, PUBLIC_JSON, PUBLIC_NPZ, RTOL_FLOAT32,
                    RTOL_FLOAT64, Case, CaseResult, load_case, load_cases, load_public_cases, numpy_version_warning,
                    public_cases_for, save_cases)
from .codec import CALLABLES, Raises
from .compare import (about_case, builtin_exception_name, compare, describe_inputs, format_student_traceback,
                      student_line)
from .grid import MAX_GRID_ELEMENTS, side_by_side
from .messages import (ANSWER_PROBLEMS, CASE_ABOUT_MESSAGE, CASE_CALL, CASE_FORMAT_MESSAGE, CASE_INDEX,
                       CASE_LOAD_MESSAGE, CASE_SCORED, CHECK_FAILED_MESSAGE, GRID_HEADER, GRID_LEGEND, GRID_MARK,
                       NO_CASE_MESSAGE, CASE_HEADER, CELL_ERROR_MESSAGE, DIAGNOSIS_MESSAGE,
                       DTYPE_KIND_MESSAGE, DTYPE_MESSAGE, DTYPE_POINTS_MESSAGE, EXACT_MESSAGE, EXCEPTION_MESSAGE,
                       HIDDEN_LINE_MESSAGE, HIDDEN_OUTPUT, HIDDEN_PROBLEM_MESSAGES, IS_STUB, KERNEL_BOTH_POLARITIES,
                       KERNEL_FLAT_MESSAGE, KERNEL_NOT_ZERO_SUM, KERNEL_ORIENTATION_MESSAGE, KERNEL_OTHER_DIAGONAL,
                       KERNEL_SIGN_MESSAGE, KERNEL_STRAIGHT, KERNEL_WRONG_SIGN, KERNEL_ZERO_MESSAGE, KEYS_MESSAGE,
                       LOW_SCORE, PARTS_MESSAGE, STUB_CALLS_MESSAGE,
                       MISSING_MESSAGE, NO_CASES_MESSAGE, NON_FINITE, NONE_MESSAGE, NONFINITE_MESSAGE, NOT_BUILTIN,
                       NOT_DEFINED, NOT_RAISED, NUMPY_VERSION_MESSAGE, PROBLEMS, PROVIDED_CHECK_MESSAGE, RAISED,
                       RAISES_MESSAGE, RETURNED_NONE, SCORE_MESSAGE, SHAPE_MESSAGE, STATUSES, STUB_MESSAGE,
                       SUMMARY_MESSAGE, TIMED_OUT, TIMEOUT_MESSAGE, TYPE_MESSAGE, UNCONFIRMED,
                       UNCONFIRMED_CHECK_MESSAGE, UNCONFIRMED_MESSAGE, VALUE_MESSAGE, WRONG_DTYPE, WRONG_EXCEPTION,
                       WRONG_EXCEPTION_MESSAGE, WRONG_SHAPE, WRONG_TYPE, WRONG_VALUES)
from .notebook import CELL_ERRORS, DEMO_TAG, load_notebook, notebook_cells, notebook_source
from .runner import DTYPE_SHARE, SCORERS, CheckFailed, check, credit, hidden_output, run_case, stub_message
# Two private helpers re-exported for autograder/capstone.py and its tests (they reuse the runner's copy and scorer).
from .runner import _copy as _copy
from .runner import _score_accuracy as _score_accuracy

__all__ = [
    "Case", "CaseResult", "Raises", "StudentException", "CallTimeout", "FunctionMissing", "CALLABLES", "SCORERS",
    "check", "CheckFailed", "load_case", "about_case", "side_by_side", "MAX_GRID_ELEMENTS",
    "run_case", "stub_message", "call_in_namespace", "notebook_source", "notebook_cells", "load_notebook",
    "save_cases", "load_cases", "load_public_cases", "public_cases_for", "codec",
    "format_student_traceback", "describe_inputs", "compare", "credit", "hidden_output",
    "builtin_exception_name", "student_line", "numpy_version_warning", "DTYPE_SHARE",
    "CELL_ERRORS", "DEMO_TAG",
    # the case files' format and the default tolerances
    "ATOL_FLOAT32", "ATOL_FLOAT64", "RTOL_FLOAT32", "RTOL_FLOAT64", "CASE_CAPS", "FORMAT_VERSION", "PUBLIC_JSON",
    "PUBLIC_NPZ",
    # every status, problem and message (.messages)
    "STATUSES", "WRONG_TYPE", "WRONG_SHAPE", "NON_FINITE", "WRONG_VALUES", "WRONG_DTYPE", "RETURNED_NONE", "RAISED",
    "NOT_RAISED", "WRONG_EXCEPTION", "TIMED_OUT", "NOT_DEFINED", "IS_STUB", "LOW_SCORE", "UNCONFIRMED",
    "ANSWER_PROBLEMS", "PROBLEMS", "STUB_MESSAGE", "NONE_MESSAGE", "MISSING_MESSAGE", "CELL_ERROR_MESSAGE",
    "TIMEOUT_MESSAGE", "EXCEPTION_MESSAGE", "CASE_HEADER", "SHAPE_MESSAGE", "TYPE_MESSAGE", "DTYPE_KIND_MESSAGE",
    "DTYPE_MESSAGE", "NONFINITE_MESSAGE", "VALUE_MESSAGE", "EXACT_MESSAGE", "KEYS_MESSAGE", "RAISES_MESSAGE",
    "WRONG_EXCEPTION_MESSAGE", "DIAGNOSIS_MESSAGE", "PROVIDED_CHECK_MESSAGE", "UNCONFIRMED_MESSAGE",
    "UNCONFIRMED_CHECK_MESSAGE", "SUMMARY_MESSAGE", "NO_CASES_MESSAGE", "SCORE_MESSAGE", "DTYPE_POINTS_MESSAGE",
    "NUMPY_VERSION_MESSAGE", "HIDDEN_OUTPUT", "HIDDEN_PROBLEM_MESSAGES", "HIDDEN_LINE_MESSAGE", "NOT_BUILTIN",
    "CASE_FORMAT_MESSAGE", "KERNEL_FLAT_MESSAGE", "KERNEL_SIGN_MESSAGE", "KERNEL_ORIENTATION_MESSAGE",
    "KERNEL_NOT_ZERO_SUM", "KERNEL_WRONG_SIGN", "KERNEL_BOTH_POLARITIES", "KERNEL_OTHER_DIAGONAL", "KERNEL_STRAIGHT",
    "KERNEL_ZERO_MESSAGE", "STUB_CALLS_MESSAGE", "CASE_ABOUT_MESSAGE", "CASE_LOAD_MESSAGE", "CASE_CALL",
    "CASE_INDEX", "CASE_SCORED", "NO_CASE_MESSAGE", "CHECK_FAILED_MESSAGE", "GRID_HEADER", "GRID_LEGEND", "GRID_MARK",
    "PARTS_MESSAGE",
]
