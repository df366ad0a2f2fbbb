"""Run untrusted student code in an isolated worker process and call its functions with arrays in, arrays out.

    from autograder.sandbox import Sandbox, Limits, Budget, StudentError, CallTimeout, WorkerCrashed
    budget = Budget(120)                 # one per submission, shared by all its Sandboxes
    with Sandbox(source, limits=Limits(call_timeout_s=10), budget=budget) as sb:
        sb.load_report          # did the source exec cleanly, names defined, captured output
        sb.call("correlate2d", args=[image, kernel], kwargs={"pad": "same"})
        sb.layers, sb.missing   # protections in force, and why the others are not

Only numeric ndarrays (as .npy, loaded with allow_pickle=False), numbers, str, bool, None and lists/tuples/dicts
of them cross the boundary (tuples stay tuples, ndarray subclasses arrive as base ndarrays; the values are encoded
by convkit_check's codec, which also sends a case's named test functions to the worker by name). See proxy.py for
the failure and restart policy, process.py for the worker process, layers.py for the isolation layers (cgroups.py
for its cgroups), budget.py for the per-submission time budget, protocol.py for the framing, lifeline.py for ending
everything when the grader is killed.
"""
from .budget import BUDGET_CUT, BUDGET_SPENT, Budget
from .layers import Limits
from .proxy import (CallTimeout, InvalidResult, NotDefined, ProtocolError, Sandbox, SandboxError, StudentError,
                    WorkerCrashed, kill_all)

__all__ = ["Sandbox", "Limits", "Budget", "SandboxError", "StudentError", "CallTimeout", "WorkerCrashed",
           "InvalidResult", "NotDefined", "ProtocolError", "kill_all", "BUDGET_SPENT", "BUDGET_CUT"]
