"""Does the sandbox carry plain values faithfully, and turn every kind of student failure into a clean error?

Real worker processes throughout (no mocks). The hostile-code side (reading, writing, signalling, forking) is in
test_sandbox_attacks.py.
"""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

from autograder.sandbox import (CallTimeout, InvalidResult, Limits, NotDefined, ProtocolError, Sandbox,
                                StudentError, WorkerCrashed)
from autograder.sandbox.layers import bwrap_path

FAST = Limits(call_timeout_s=5.0, load_timeout_s=10.0, memory_mb=768, max_output_bytes=4096,
              max_array_bytes=1 << 20)
SHORT_TIMEOUT_S = 0.5
MODES = ["bwrap", "plain"]

IDENT = "def ident(x):\n    return x\n"


def limits_for(mode: str, **kw) -> Limits:
    if mode == "bwrap" and bwrap_path() is None:
        pytest.skip("bubblewrap is not installed or cannot create namespaces on this machine")
    base = {f: getattr(FAST, f) for f in FAST.__dataclass_fields__}
    base.update(kw, use_bwrap=(mode == "bwrap"))
    return Limits(**base)


@pytest.fixture(scope="module")
def ident_sb():
    with Sandbox(IDENT, limits=FAST) as sb:
        yield sb


ARRAYS = [
    np.arange(12, dtype=np.float64).reshape(3, 4),
    np.linspace(-1, 1, 7, dtype=np.float32),
    np.array([[1, -2], [3, -128]], dtype=np.int8),
    np.arange(6, dtype=np.uint16).reshape(1, 2, 3),
    np.array([True, False, True]),
    np.array([1 + 2j, -3j], dtype=np.complex128),
    np.array(3.5),                                    # 0-d
    np.zeros((0, 4), dtype=np.float64),               # empty
    np.arange(24, dtype=np.float64).reshape(2, 3, 4).transpose(2, 0, 1),   # non-contiguous
    np.asfortranarray(np.arange(6, dtype=np.int64).reshape(2, 3)),
    np.array([np.nan, np.inf, -np.inf, -0.0]),
]


@pytest.mark.parametrize("arr", ARRAYS, ids=lambda a: f"{a.dtype}{a.shape}")
def test_array_round_trip(ident_sb, arr):
    """Does an array come back as a base ndarray with the same dtype, shape and bits?"""
    got = ident_sb.call("ident", args=[arr])
    assert type(got) is np.ndarray
    assert got.dtype == arr.dtype and got.shape == arr.shape
    np.testing.assert_array_equal(got, arr)


PLAIN = [0, -7, 2 ** 70, 1.5, -0.0, "naïve ∑ text", "", True, False, None, [1, [2, [3.0]]],
         {"a": 1, "b": [None, "x"], "c": {"d": True}}, (1, "two", (3.0, None)), [], {}, {"$nd": 0, "$tuple": 1}]


@pytest.mark.parametrize("value", PLAIN, ids=repr)
def test_plain_round_trip(ident_sb, value):
    """Do JSON-able values come back equal and of the same type (tuples stay tuples; dict keys cannot forge tags)?"""
    got = ident_sb.call("ident", args=[value])
    assert got == value and type(got) is type(value)


def test_a_cases_named_test_function_reaches_the_worker_but_no_function_comes_back():
    """Does a named test function (convkit_check's CALLABLES) cross to the worker by name, while a function the
    worker returns, or a forged tag of one, never becomes a function in the grader?"""
    from autograder.student.convkit_check import CALLABLES
    src = ("import numpy as np\ndef apply(f, x):\n    return f(x)\ndef give():\n    return np.sin\n"
           "def forge():\n    return {'$fn': 'square'}\n")
    with Sandbox(src, limits=FAST) as sb:
        np.testing.assert_array_equal(sb.call("apply", args=[CALLABLES["square"], np.arange(3.0)]), [0.0, 1, 4])
        assert sb.call("forge") == {"$fn": "square"}  # a dict of the student's, not the function
        with pytest.raises(InvalidResult):
            sb.call("give")


def test_nan_inf_and_numpy_scalars(ident_sb):
    got = ident_sb.call("ident", args=[[float("nan"), float("inf"), np.float32(1.25), np.int16(-3)]])
    assert math.isnan(got[0]) and got[1] == math.inf
    assert type(got[2]) is np.float32 and got[2] == np.float32(1.25)
    assert type(got[3]) is np.int16 and got[3] == -3


def test_mixed_structure_of_arrays(ident_sb):
    x = {"w": np.ones((2, 2), np.float32), "grads": (np.arange(3), [np.zeros(1)])}
    got = ident_sb.call("ident", kwargs={"x": x})
    assert type(got["grads"]) is tuple
    np.testing.assert_array_equal(got["w"], x["w"])
    np.testing.assert_array_equal(got["grads"][0], x["grads"][0])


def test_student_exception_carries_type_message_and_student_frames_only():
    src = "def helper(n):\n    raise ValueError(f'bad n={n}')\n\ndef f(n):\n    return helper(n)\n"
    with Sandbox(src, limits=FAST) as sb:
        with pytest.raises(StudentError) as info:
            sb.call("f", args=[3])
        err = info.value
        assert err.type_name == "ValueError" and err.message == "bad n=3"
        assert 'line 2, in helper' in err.student_traceback and "<student>" in err.student_traceback
        assert "<protocol>" not in err.student_traceback and "worker_boot" not in err.student_traceback
        # the worker survived the exception
        with pytest.raises(StudentError):
            sb.call("f", args=[4])
        assert sb.restarts == 0


def test_not_defined_and_has():
    with Sandbox("x = 3\ndef g():\n    return 1\n", limits=FAST) as sb:
        assert sb.has("g") and not sb.has("x") and not sb.has("nope")
        with pytest.raises(NotDefined):
            sb.call("nope")
        assert sb.call("g") == 1


def test_load_report_for_a_source_that_fails_half_way():
    src = "def early():\n    return 'defined'\n\nprint('loading')\n1 / 0\n\ndef late():\n    return 2\n"
    with Sandbox(src, limits=FAST) as sb:
        rep = sb.load_report
        assert rep["ok"] is False and rep["error_type"] == "ZeroDivisionError"
        assert "line 5" in rep["error"] and rep["stdout"] == "loading\n"
        assert sb.has("early") and not sb.has("late")
        assert sb.call("early") == "defined"


def test_syntax_error_is_reported():
    with Sandbox("def f(:\n  pass\n", limits=FAST) as sb:
        assert sb.load_report["ok"] is False and sb.load_report["error_type"] == "SyntaxError"


PREAMBLE = ("import sys as _sys\nHELPER = 'trusted'\ndef double(v):\n    return 2 * v\n"
            "def student_names():\n    return sorted(k for k in student_namespace if not k.startswith('__'))\n"
            "def helper_value():\n    return HELPER\n")


def test_the_preamble_and_the_students_source_have_namespaces_of_their_own():
    """Are the preamble's names out of the student's sight, and can a student's same-named definitions replace
    neither the preamble's functions nor the globals they use?"""
    src = ("def f(x):\n    return double(x)\n"
           "def g():\n    return [n in globals() for n in ('_sys', 'HELPER', 'student_namespace')]\n"
           "def double(v):\n    return -1\nHELPER = 'student'\n_sys = None\n")
    with Sandbox(src, limits=FAST, trusted_preamble=PREAMBLE) as sb:
        assert sb.call("f", args=[3]) == -1            # the student's own double
        assert sb.call("double", args=[3]) == 6        # the grader asking for the preamble's double gets it
        assert sb.call("helper_value") == "trusted"
        assert sb.call("g") == [True, True, False]     # the student's _sys and HELPER, no student_namespace
        assert sb.call("student_names") == ["HELPER", "_sys", "double", "f", "g"]
        assert sb.has("student_names") and sb.has("f")


def test_a_student_name_error_is_not_satisfied_by_the_preamble():
    with (Sandbox("def f(x):\n    return double(x)\n", limits=FAST, trusted_preamble=PREAMBLE) as sb,
          pytest.raises(StudentError) as info):
        sb.call("f", args=[1])
    assert info.value.type_name == "NameError" and "double" in info.value.message


def test_forged_frames_are_validated_and_capped():
    """A worker that lies about its traceback frames: does the grader keep only well-formed cell frames, the
    last six at most?"""
    forged = [["<cell 2>", 5, "f"], ["/etc/passwd", 1, "x"], ["<cell 3>", -1, "g"], ["<cell 4>", 10 ** 9, "h"],
              ["<cell 5>", 2, "<b>bold</b>"], ["<cell 6>", True, "b"], "junk", ["<cell 7>", 3, "ok_name", 4],
              ["<cell 8>", 3, "ok_name"], ["<cell 9>", 1, "<module>"]]
    src = (f"import os, sys\ndef f():\n    boot = sys.modules['__main__']\n"
           f"    boot.P.write_frame(boot.OUT, {{'ok': False, 'kind': 'student_error', 'type': 'ValueError', "
           f"'message': 'm', 'traceback': '', 'frames': {forged!r}}})\n    os._exit(0)\n")
    with Sandbox(src, limits=FAST) as sb, pytest.raises(StudentError) as info:
        sb.call("f")
    assert info.value.frames == (("<cell 8>", 3, "ok_name"), ("<cell 9>", 1, "<module>"))
    many = [[f"<cell {i}>", i, "f"] for i in range(1, 11)]
    with Sandbox(src.replace(repr(forged), repr(many)), limits=FAST) as sb, pytest.raises(StudentError) as info:
        sb.call("f")
    assert info.value.frames == tuple((f"<cell {i}>", i, "f") for i in range(5, 11))


@pytest.mark.parametrize("mode", MODES)
def test_timeout_kills_the_worker_and_the_next_call_works(mode):
    src = ("import time\ndef spin():\n    while True:\n        pass\n"
           "def nap():\n    time.sleep(60)\ndef ok():\n    return 'ok'\n")
    with Sandbox(src, limits=limits_for(mode, call_timeout_s=SHORT_TIMEOUT_S)) as sb:
        for fn in ("spin", "nap"):
            pid = sb._proc.pid
            with pytest.raises(CallTimeout):
                sb.call(fn)
            assert not os.path.exists(f"/proc/{pid}"), "the timed-out worker is still alive"
            assert sb.call("ok") == "ok"
        assert sb.restarts == 2


CRASHES = [
    ("import os\ndef f():\n    os._exit(3)\n", "exited with code 3"),
    ("import sys\ndef f():\n    sys.exit(4)\n", "exited with code 4"),
    ("def f():\n    raise SystemExit(5)\n", "exited with code 5"),
    ("import ctypes\ndef f():\n    return ctypes.string_at(16, 8)  # below mmap_min_addr: never mapped\n", "SIGSEGV"),
    ("import os, signal\ndef f():\n    os.kill(os.getpid(), signal.SIGKILL)\n", "SIGKILL"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("src,reason", CRASHES, ids=["os._exit", "sys.exit", "SystemExit", "segfault", "kill-self"])
def test_crash_is_reported_and_the_next_call_works(mode, src, reason):
    with Sandbox(src + "def ok():\n    return 1\n", limits=limits_for(mode)) as sb:
        with pytest.raises(WorkerCrashed, match=reason):
            sb.call("f")
        assert sb.call("ok") == 1 and sb.restarts == 1


def test_a_source_that_crashes_while_loading_fails_every_call_fast():
    with Sandbox("import os\nos._exit(9)\ndef f():\n    return 1\n", limits=FAST) as sb:
        assert sb.load_report["crashed"] and "code 9" in sb.load_report["error"]
        for _ in range(3):
            with pytest.raises(WorkerCrashed, match="code 9"):
                sb.call("f")
        assert sb.restarts == 0  # no worker is started again for a source that crashes as it loads


UNTRUSTED_RETURNS = {
    "always-equal object": "class A:\n    def __eq__(self, o):\n        return True\ndef f():\n    return A()\n",
    "object array": "import numpy as np\ndef f():\n    return np.array([1, 'a', None], dtype=object)\n",
    "generator": "def f():\n    return (i for i in range(3))\n",
    "function": "def f():\n    return f\n",
    "int dict keys": "def f():\n    return {1: 2}\n",
    "structured dtype": "import numpy as np\ndef f():\n    return np.zeros(2, dtype=[('a', 'i4'), ('b', 'f8')])\n",
    "string array": "import numpy as np\ndef f():\n    return np.array(['a', 'b'])\n",
    "too big": "import numpy as np\ndef f():\n    return np.zeros(1 << 20)\n",  # 8 MB > FAST cap of 1 MB
}


@pytest.mark.parametrize("name", list(UNTRUSTED_RETURNS))
def test_values_that_cannot_cross_become_errors(name):
    with Sandbox(UNTRUSTED_RETURNS[name] + "def ok():\n    return 1\n", limits=FAST) as sb:
        with pytest.raises(InvalidResult):
            sb.call("f")
        assert sb.call("ok") == 1


def test_ndarray_subclass_with_a_lying_eq_arrives_as_plain_data():
    src = ("import numpy as np\nclass Liar(np.ndarray):\n"
           "    def __eq__(self, o):\n        return np.ones(self.shape, bool)\n"
           "    def __array_finalize__(self, obj):\n        pass\n"
           "def f():\n    return np.arange(4.0).view(Liar)\n")
    with Sandbox(src, limits=FAST) as sb:
        got = sb.call("f")
    assert type(got) is np.ndarray
    assert not (got == np.array([9.0, 9.0, 9.0, 9.0])).any()
    np.testing.assert_array_equal(got, np.arange(4.0))


def test_forged_pickle_frame_is_never_unpickled(tmp_path):
    """A student who writes raw frames (bypassing the worker's encoder) with an object-dtype .npy gets refused."""
    marker = tmp_path / "unpickled"
    src = f"""
import io, os, sys, pickle, numpy as np
class Boom:
    def __reduce__(self):
        return (open, ({str(marker)!r}, "w"))
def f():
    boot = sys.modules["__main__"]
    buf = io.BytesIO()
    np.save(buf, np.array([Boom()], dtype=object), allow_pickle=True)
    boot.P.write_frame(boot.OUT, {{"ok": True, "value": {{"$nd": 0}}, "stdout": "", "stderr": ""}}, [buf.getvalue()])
    return 1
def ok():
    return 2
"""
    with Sandbox(src, limits=FAST) as sb:
        with pytest.raises(InvalidResult, match="pickle|valid"):
            sb.call("f")
        assert sb.call("ok") == 2
    assert not marker.exists()


def test_oversized_frame_header_is_refused_without_reading_it():
    src = ("import os, struct, sys\ndef f():\n    boot = sys.modules['__main__']\n"
           "    os.write(boot.OUT, struct.pack('>I', 2**31))\n    return 1\ndef ok():\n    return 3\n")
    with Sandbox(src, limits=FAST) as sb:
        with pytest.raises(ProtocolError, match="cap"):
            sb.call("f")
        assert sb.call("ok") == 3


def test_grader_refuses_to_send_oversized_or_unsupported_arguments(ident_sb):
    with pytest.raises(TypeError, match="cap"):
        ident_sb.call("ident", args=[np.zeros(1 << 20)])
    with pytest.raises(TypeError, match="object"):
        ident_sb.call("ident", args=[object()])


@pytest.mark.parametrize("how", ["print", "os.write"])
def test_printing_100_mb_is_capped(how):
    body = ("    s = 'x' * (1 << 20)\n    for _ in range(100):\n        print(s)\n" if how == "print" else
            "    import os\n    s = b'y' * (1 << 20)\n    for _ in range(100):\n        os.write(1, s)\n")
    with Sandbox("def f():\n" + body + "    return 'done'\n", limits=FAST) as sb:
        assert sb.call("f") == "done"
        if how == "print":
            assert len(sb.last_output["stdout"]) <= FAST.max_output_bytes + 100
            assert "more characters not kept" in sb.last_output["stdout"]
    assert len(sb.raw_output) <= FAST.max_output_bytes


def test_layers_are_reported_with_reasons_for_the_missing_ones():
    with Sandbox(IDENT, limits=FAST) as sb:
        assert "rlimits" in sb.layers
        assert not set(sb.layers) & set(sb.missing)
        assert all(isinstance(r, str) and r for r in sb.missing.values())
        if os.geteuid() == 0 and bwrap_path():
            assert {"bubblewrap", "netns", "pidns", "landlock", "seccomp"} <= set(sb.layers)


def test_student_exception_carries_its_base_classes():
    """Does a student's ValueError subclass arrive with 'ValueError' among its type names?"""
    src = "class ShapeError(ValueError):\n    pass\n\ndef f():\n    raise ShapeError('x has shape (2,)')\n"
    with Sandbox(src) as sb, pytest.raises(StudentError) as info:
        sb.call("f")
    assert info.value.type_name == "ShapeError"
    assert info.value.type_names[:2] == ("ShapeError", "ValueError")
    assert "x has shape (2,)" in info.value.message
