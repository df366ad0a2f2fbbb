"""Grading on a real Dask cluster (a LocalCluster of worker processes on 127.0.0.1, started and stopped here).

* The three engines (this process, the process pool, Dask) give the same result case by case.
* A Dask worker killed with SIGKILL mid-batch: its task runs again elsewhere; every student is graded and recorded
  exactly once, with the exact score.
* A student's timeout, crash or memory bomb is that student's result, never a retried task: each task goes to
  a worker once, and no worker dies.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter

import pytest

from autograder.grade import grade_batch
from autograder.results import read_result, result_path
from tests.support.submissions_factory import (ASSIGNMENT, BATCH_LIMITS, HONEST, HOSTILE, MISTAKES, Context,
                                              expected_score, fresh_course, gradebook_scores, guarded_body,
                                              honest_notebook, mistake_expected, replace_body, write_submission)

pytestmark = pytest.mark.slow

distributed = pytest.importorskip("distributed")

SLOW_CALL_S = 0.4       # each relu call of a slow submission sleeps this long (5 cases: about 2 s a notebook)
SLOW_STUDENTS = 6
KILL_WAIT_S = 180       # generous: two loaded cores, xdist's other tests beside us
FAULTS = ("os_exit", "endless_loop", "sleeper", "memory_bomb")


def _cluster(workers: int = 2):
    # Nanny-managed worker processes, as `dask worker` starts them: a killed one is restarted by its nanny.
    return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                    dashboard_address=None)


def _processed(client) -> Counter:
    """How many times the scheduler sent each grading task to a worker (its transition log)."""
    def count(dask_scheduler):
        return Counter(str(t.key) for t in dask_scheduler.transition_log
                       if t.finish == "processing" and str(t.key).startswith("grade_task-"))
    return client.run_on_scheduler(count)


def _cases(course, students) -> dict[str, list[tuple]]:
    out = {}
    for student in students:
        raw = read_result(result_path(course, ASSIGNMENT, student))
        out[student] = [(t["extra_data"]["function"], t["extra_data"]["case"], t["status"], t["score"],
                         t.get("output")) for t in raw["tests"]]
    return out


def test_the_three_engines_grade_alike_case_by_case(tmp_path_factory):
    course = fresh_course(tmp_path_factory, "engines")
    expected = {}
    for h in HONEST:
        write_submission(course, h.student, h.build(course))
        expected[h.student] = expected_score(h.broken)
    for m in MISTAKES[:3]:
        write_submission(course, m.student, replace_body(honest_notebook(course), m.function, m.body))
        expected[m.student] = mistake_expected(m)
    seen = {}
    for label, kw in (("this process", {"workers": 0}), ("process pool", {"workers": 2}),
                      ("dask", {"scheduler": "local", "workers": 2})):
        summary = grade_batch(ASSIGNMENT, [], course, force=True, progress=False, limits=BATCH_LIMITS, **kw)
        assert summary.errors == {} and summary.scores == expected, label
        seen[label] = _cases(course, expected)
        workers = {read_result(result_path(course, ASSIGNMENT, s))["extra_data"]["worker"] for s in expected}
        if label == "dask":
            assert all(", dask worker " in w for w in workers), workers
            assert len(summary.workers) == 2 and all(info["layers"] for info in summary.workers.values())
        else:
            assert not any("dask" in w for w in workers), workers
    assert seen["this process"] == seen["process pool"] == seen["dask"]
    assert {s: sum(v.values()) for s, v in gradebook_scores(course).items()} == expected


def test_a_killed_dask_worker_loses_nothing_and_records_nothing_twice(tmp_path_factory):
    course = fresh_course(tmp_path_factory, "worker-killed")
    slow = replace_body(honest_notebook(course), "relu",
                        guarded_body("relu", f"import time\ntime.sleep({SLOW_CALL_S})"))
    students = [f"slow_{i}" for i in range(SLOW_STUDENTS)]
    for student in students:
        write_submission(course, student, slow)
    limits = BATCH_LIMITS.__class__(call_timeout_s=10.0, memory_mb=BATCH_LIMITS.memory_mb)
    with _cluster() as cluster, distributed.Client(cluster) as client:
        pids = client.run(os.getpid)
        out: dict = {}
        batch = threading.Thread(target=lambda: out.update(summary=grade_batch(
            ASSIGNMENT, [], course, progress=False, limits=limits, scheduler=cluster.scheduler_address)))
        batch.start()
        deadline = time.monotonic() + KILL_WAIT_S
        victim = None
        while victim is None and time.monotonic() < deadline and batch.is_alive():
            if any(result_path(course, ASSIGNMENT, s).exists() for s in students):
                busy = [address for address, keys in client.processing().items() if keys and address in pids]
                victim = busy[0] if busy else None
            time.sleep(0.05)
        assert victim is not None, "no worker was busy after the first result"
        os.kill(pids[victim], signal.SIGKILL)  # mid-task: the scheduler hands its task to the other worker
        batch.join(KILL_WAIT_S)
        assert not batch.is_alive()
        processed = _processed(client)
    summary = out["summary"]
    assert summary.errors == {}
    assert sorted(summary.graded) == students  # each once
    assert summary.scores == {s: expected_score({}) for s in students}
    assert max(processed.values()) == 2, processed  # the killed worker's task ran again
    assert sum(processed.values()) == SLOW_STUDENTS + list(processed.values()).count(2)
    gradebook = gradebook_scores(course)
    assert sorted(gradebook) == students and all(sum(v.values()) == expected_score({}) for v in gradebook.values())


def test_a_students_timeout_crash_or_memory_bomb_is_a_result_never_a_retried_task(tmp_path_factory):
    course = fresh_course(tmp_path_factory, "worker-faults")
    ctx = Context(course, course, 0, [])  # these attacks aim at nothing outside their worker
    hostile = {h.student: h for h in HOSTILE if h.student in FAULTS}
    for h in hostile.values():
        write_submission(course, h.student, h.build(honest_notebook(course), ctx))
    with _cluster() as cluster, distributed.Client(cluster) as client:
        pids = client.run(os.getpid)
        summary = grade_batch(ASSIGNMENT, [], course, progress=False, limits=BATCH_LIMITS,
                              scheduler=cluster.scheduler_address)
        processed = _processed(client)
        assert client.run(os.getpid) == pids  # no worker died, none was restarted
    assert summary.errors == {}
    assert summary.scores == {s: expected_score(h.broken) for s, h in hostile.items()}
    # The loops time out; the memory bomb fails its call, or on a loaded machine times out while it allocates.
    assert {"endless_loop", "sleeper"} <= set(summary.timed_out) <= {"endless_loop", "sleeper", "memory_bomb"}
    assert len(processed) == len(FAULTS) and set(processed.values()) == {1}, processed
