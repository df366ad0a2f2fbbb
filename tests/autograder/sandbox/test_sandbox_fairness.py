"""Can one submission take time from the others: CPU from the submissions graded beside it, or a grading process
for minutes by stalling every call just under the timeout?

Real workers throughout. The CPU tests run an honest worker whose every call needs HONEST_CPU_S of CPU beside an
attacker that tries to keep every core busy (24 children that setsid and spin, or 24 threads in GIL-free NumPy
loops). Two layers keep the honest worker's calls in time: the attacker cannot start processes (seccomp) and runs
in a CPU share of its own (``cpu-share``), and a call is timed on the worker's own clock, not counting the time it
waited for a CPU (cpuclock.py) -- which also keeps an honest call in time on a machine that other users crowd.
"""
from __future__ import annotations

import errno
import os
import uuid

import pytest

from autograder.sandbox import BUDGET_CUT, BUDGET_SPENT, Budget, CallTimeout, Limits, Sandbox
from tests.autograder.sandbox.test_sandbox_attacks import limits_for, procs_with

MODES = ["bwrap", "plain"]
HONEST_CPU_S = 0.2        # CPU seconds each honest call burns (measured on its own clock, not counted in loops)
HONEST_TIMEOUT_S = 0.5    # 2.5x what it needs on a free core: less than it gets beside 24 spinners on 2 cores
HONEST_CALLS = 5
ATTACK_WORKERS = 24       # threads or processes the attacker starts (under Limits.max_procs = 32)
ATTACK_S = 60             # how long each of them spins at most, should the sandbox let it live

HONEST = f"""
import time
def work():
    start = time.process_time()
    while time.process_time() - start < {HONEST_CPU_S}:
        pass
    return 'done'
"""

ATTACKER = f"""
import os, threading, time
import numpy as np

def spin_processes(marker, n):
    made = []
    for _ in range(n):
        try:
            pid = os.fork()
        except OSError as exc:
            made.append(exc.errno)
            break
        if pid == 0:
            try:
                os.setsid()          # out of the process group the grader kills
                os.execv("/bin/sh", ["sh", "-c", "while :; do :; done", marker])
            finally:
                os._exit(0)
        made.append(pid)
    return made

def spin_threads(n):
    a = np.linspace(0, 1, 1 << 21)
    def burn():
        out = np.empty_like(a)
        end = time.monotonic() + {ATTACK_S}
        while time.monotonic() < end:
            np.sin(a, out=out)       # a ufunc loop releases the GIL: each thread can hold a core of its own
    for _ in range(n):
        threading.Thread(target=burn, daemon=True).start()
    return n
"""

ESCAPES = """
import os
def attack():
    out = {}
    for name, fn in (("setsid", os.setsid), ("setpgid", lambda: os.setpgid(0, 0)), ("setpgrp", os.setpgrp),
                     ("fork", os.fork), ("posix_spawn", lambda: os.posix_spawn("/bin/true", ["true"], {}))):
        try:
            if fn() == 0 and name == "fork":
                os._exit(0)
            out[name] = "allowed"
        except OSError as exc:
            out[name] = exc.errno
    return out

def threads_still_work():
    import threading
    import numpy as np
    got = []
    t = threading.Thread(target=lambda: got.append(float((np.ones((8, 8)) @ np.ones(8)).sum())))
    t.start()
    t.join()
    return got
"""


def _honest_outcomes(mode) -> list:
    out = []
    with Sandbox(HONEST, limits=limits_for(mode, call_timeout_s=HONEST_TIMEOUT_S)) as honest:
        for _ in range(HONEST_CALLS):
            try:
                out.append(honest.call("work"))
            except CallTimeout as exc:
                out.append(f"timeout: {exc}")
    return out


@pytest.mark.parametrize("mode", MODES)
def test_setsid_setpgid_and_new_processes_are_refused_but_threads_work(mode):
    with Sandbox(ESCAPES, limits=limits_for(mode)) as sb:
        if "seccomp" not in sb.layers:
            pytest.skip(f"seccomp is not active here: {sb.missing.get('seccomp')}")
        got = sb.call("attack")
        assert got == {"setsid": errno.EPERM, "setpgid": errno.EPERM, "setpgrp": errno.EPERM, "fork": errno.EPERM,
                       "posix_spawn": errno.EPERM}
        assert sb.call("threads_still_work") == [64.0]


def _attacker_limits(mode, cgroup: bool) -> Limits:
    # Room for 24 threads: each NumPy thread takes a 64 MiB malloc arena of address space.
    return limits_for(mode, max_procs=32, memory_mb=3072, use_cgroup=None if cgroup else False)


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_spinning_setsid_children_cannot_starve_the_submission_graded_beside(mode):
    marker = f"convkit-spin-{uuid.uuid4().hex[:8]}"
    with Sandbox(ATTACKER, limits=_attacker_limits(mode, cgroup=True)) as attacker:
        made = attacker.call("spin_processes", args=[marker, ATTACK_WORKERS])
        assert _honest_outcomes(mode) == ["done"] * HONEST_CALLS
        assert made == [errno.EPERM] or "seccomp" not in attacker.layers, made
    assert not procs_with(marker), "a spinning child survived close()"


@pytest.mark.slow
@pytest.mark.parametrize("cgroup", [True, False], ids=["cpu-share", "own-clock-only"])
@pytest.mark.parametrize("mode", MODES)
def test_spinning_threads_cannot_starve_the_submission_graded_beside(mode, cgroup):
    with Sandbox(ATTACKER, limits=_attacker_limits(mode, cgroup)) as attacker:
        assert attacker.call("spin_threads", args=[ATTACK_WORKERS]) == ATTACK_WORKERS
        assert _honest_outcomes(mode) == ["done"] * HONEST_CALLS
        if cgroup and "cpu-share" in attacker.layers:   # every thread of the attacker is in its CPU share
            cpu = attacker._wk.plan.cgroup.dirs["cpu"]
            threads = {int(t) for t in os.listdir(f"/proc/{attacker._worker}/task")}
            assert threads <= {int(t) for t in (cpu / "tasks").read_text().split()} if (cpu / "tasks").exists() \
                else attacker._worker in attacker._wk.plan.cgroup.pids()


# ------------------------------------------------------------------------------------------------ the budget
STALLER = "import time\ndef nap(s):\n    time.sleep(s)\n    return 'rested'\ndef ok():\n    return 'ok'\n"
CALL_S = 1.0                     # the per-call timeout
NAP_S = 0.8                      # just under it: every call succeeds on its own
BUDGET_S = 3.0                   # room for the start and a few naps, never for all of them


def test_a_submission_stalling_every_call_is_stopped_by_its_budget():
    budget = Budget(BUDGET_S)
    outcomes = []
    with Sandbox(STALLER, limits=Limits(call_timeout_s=CALL_S), budget=budget) as sb:
        for _ in range(10):
            try:
                outcomes.append(sb.call("nap", args=[NAP_S]))
            except CallTimeout as exc:
                outcomes.append(str(exc))
        restarts = sb.restarts
    rested = outcomes.count("rested")
    assert 1 <= rested <= BUDGET_S / NAP_S and outcomes[:rested] == ["rested"] * rested
    assert outcomes[rested] == BUDGET_CUT.format(budget_s=BUDGET_S, function="nap")
    assert outcomes[rested + 1:] == [BUDGET_SPENT.format(budget_s=BUDGET_S, function="nap")] * (9 - rested)
    assert restarts == 0, "a call refused for the budget started a fresh worker"
    assert budget.exhausted and budget.spent_s >= BUDGET_S


def test_one_budget_is_shared_by_the_sandboxes_of_one_submission():
    """The public cases in one Sandbox, the hidden ones in a fresh second one: does the second inherit what the
    first left, and never start a worker once it is spent?"""
    budget = Budget(BUDGET_S)
    with (Sandbox(STALLER, limits=Limits(call_timeout_s=10.0), budget=budget) as public,
          pytest.raises(CallTimeout, match="time budget")):
        public.call("nap", args=[30])
    with Sandbox(STALLER, limits=Limits(call_timeout_s=10.0), budget=budget) as hidden:
        assert hidden._proc is None and hidden.load_report["timed_out"]
        with pytest.raises(CallTimeout) as info:
            hidden.call("ok")
        assert str(info.value) == BUDGET_SPENT.format(budget_s=BUDGET_S, function="ok")
        assert hidden._proc is None


def test_an_honest_submission_spends_little_of_its_budget():
    budget = Budget(Limits().budget_s)
    with Sandbox(STALLER, budget=budget) as a, Sandbox(STALLER, budget=budget) as b:
        assert [a.call("ok"), b.call("ok")] == ["ok", "ok"]
    assert 0 < budget.spent_s < budget.total_s and not budget.exhausted


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), True, "60"])
def test_a_bad_budget_is_refused(bad):
    with pytest.raises(ValueError, match="Budget total_s"):
        Budget(bad)


def test_a_sandbox_refuses_a_budget_that_is_not_a_budget():
    with pytest.raises(TypeError, match="budget"):
        Sandbox(STALLER, budget=60)
