"""Grading past one machine: a Dask LocalCluster with 1 and 2 single-threaded workers against the process pool with 2.

Run by ``make bench`` or ``OPENBLAS_NUM_THREADS=1 PATH=.venv/bin:$PATH .venv/bin/python benchmarks/grading_scale.py
[--quick]``. It builds a ``layers`` course with SUBMISSIONS generated submissions (autograder.classgen: complete,
partial and mistaken work), and grades them from scratch ROUNDS times in each of three ways, interleaved (the order
rotates each round, so no way always gets the quieter moment; this machine is shared):

* ``dask-1``, ``dask-2``: ``grade_batch(..., scheduler=ADDRESS)`` on a standing LocalCluster of 1 or 2 worker
  processes of one thread each, started before the timing (as a cluster is, before its instructors grade); the
  worker probe and the per-worker first imports are inside the timing;
* ``pool-2``: ``grade_batch(..., workers=2)``, the default engine, whose pool starts inside the timing.

Then the scheduler's overhead per task: TASKS no-op tasks through the same executor, a window ahead of the worker as
the batch submits them, on the 1-worker cluster. Then how many submissions one core grades per hour, for each
assignment (``workers=0``: this process, one at a time). Prints a table and the ratios against their floors (2 Dask
workers at least 1.7x one; Dask at most 10% slower than the pool with as many workers), writes
``benchmarks/results/grading_scale.json``. A report, not a test: the exit code is 0.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

RESULTS = Path(__file__).resolve().parent / "results"
ASSIGNMENT = "layers"
SUBMISSIONS, QUICK_SUBMISSIONS = 200, 40
ROUNDS, QUICK_ROUNDS = 2, 1
TASKS = 500
PER_HOUR = {"convolution": 20, "layers": 20, "backprop": 20, "cnn": 3}  # submissions timed per assignment
SPEEDUP_FLOOR = 1.7      # dask-2 / dask-1 throughput
DASK_VS_POOL_FLOOR = 1.10  # dask-2 seconds / pool-2 seconds, at most
SEED = 0


def _fresh(base: Path, target: Path) -> Path:
    from autograder.build import write_nbgrader_config

    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(base, target)
    write_nbgrader_config(target)  # the build's config names the base course's absolute path
    return target


def _time_batch(course: Path, assignment: str, **engine) -> tuple[float, object]:
    from autograder.grade import grade_batch

    start = time.perf_counter()
    summary = grade_batch(assignment, [], course, progress=False, **engine)
    return time.perf_counter() - start, summary


def _noop(x):
    return x


def task_overhead(client, tasks: int = TASKS) -> float:
    """Seconds per no-op task, submitted a window ahead of the workers as grade_batch does."""
    from concurrent.futures import FIRST_COMPLETED, wait

    executor = client.get_executor(pure=False)
    window = 2 * sum(client.nthreads().values())
    pending, sent = set(), 0
    start = time.perf_counter()
    while sent < tasks or pending:
        while sent < tasks and len(pending) < window:
            pending.add(executor.submit(_noop, sent))
            sent += 1
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
    return (time.perf_counter() - start) / tasks


def per_hour(root: Path, quick: bool) -> list[dict]:
    """Submissions one core grades per hour, per assignment (complete and mistaken work, this process)."""
    from autograder.build import available_assignments, build_course
    from autograder.classgen import generate_class

    rows = []
    for name in [a for a in PER_HOUR if a in available_assignments()]:
        n = max(2, PER_HOUR[name] // (4 if quick else 1))
        course = root / f"per-hour-{name}"
        build_course(course, [name])
        generate_class(course, [name], n_students=n, seed=SEED, hostile=False)
        seconds, summary = _time_batch(course, name, workers=0)
        rows.append({"assignment": name, "submissions": n, "seconds": round(seconds, 2),
                     "per_hour": round(3600 * len(summary.graded) / seconds)})
        print(f"  {name}: {n} submissions in {seconds:.1f} s on one core: {rows[-1]['per_hour']} per hour",
              flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SUBMISSIONS} submissions, one round")
    args = parser.parse_args(argv)
    from distributed import Client, LocalCluster

    from autograder.build import build_course
    from autograder.cluster import PRELOAD
    from autograder.classgen import generate_class

    n = QUICK_SUBMISSIONS if args.quick else SUBMISSIONS
    rounds = QUICK_ROUNDS if args.quick else ROUNDS
    root = Path(tempfile.mkdtemp(prefix="convkit-scale-"))
    base = root / "base"
    print(f"building {ASSIGNMENT} and generating {n} submissions in {root}", flush=True)
    build_course(base, [ASSIGNMENT])
    generate_class(base, [ASSIGNMENT], n_students=n, seed=SEED, hostile=False)
    clusters, clients, started = {}, {}, {}
    for size in (1, 2):
        t0 = time.perf_counter()
        clusters[size] = LocalCluster(n_workers=size, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address=":0", preload=[PRELOAD])  # as README's `dask worker`
        clients[size] = Client(clusters[size])
        started[size] = time.perf_counter() - t0
    modes = {"dask-1": {"scheduler": clusters[1].scheduler_address},
             "dask-2": {"scheduler": clusters[2].scheduler_address}, "pool-2": {"workers": 2}}
    times: dict[str, list[float]] = {m: [] for m in modes}
    scores: dict[str, dict] = {}
    try:
        for r in range(rounds):
            order = list(modes)[r % 3:] + list(modes)[:r % 3]
            for mode in order:
                seconds, summary = _time_batch(_fresh(base, root / mode), ASSIGNMENT, **modes[mode])
                times[mode].append(seconds)
                scores[mode] = summary.scores
                print(f"  round {r + 1} {mode}: {seconds:.1f} s ({len(summary.graded)} graded, "
                      f"{len(summary.errors)} errors)", flush=True)
        overhead = task_overhead(clients[1])
    finally:
        for size in (1, 2):
            clients[size].close()
            clusters[size].close()
    hourly = per_hour(root, args.quick)

    med = {m: statistics.median(t) for m, t in times.items()}
    speedup, vs_pool = med["dask-1"] / med["dask-2"], med["dask-2"] / med["pool-2"]
    same = scores["dask-1"] == scores["dask-2"] == scores["pool-2"]
    print(f"\n{'engine':<8} {'median_s':>9} {'per_submission_ms':>18}   runs")
    for m in modes:
        print(f"{m:<8} {med[m]:>9.1f} {1000 * med[m] / n:>18.0f}   {', '.join(f'{t:.1f}' for t in times[m])}")
    print(f"LocalCluster start-up (not timed above): 1 worker {started[1]:.1f} s, 2 workers {started[2]:.1f} s")
    print(f"2 Dask workers / 1: {speedup:.2f}x (floor {SPEEDUP_FLOOR}x) "
          f"{'PASS' if speedup >= SPEEDUP_FLOOR else 'FAIL'}")
    print(f"Dask-2 / pool-2 time: {vs_pool:.3f} (at most {DASK_VS_POOL_FLOOR}) "
          f"{'PASS' if vs_pool <= DASK_VS_POOL_FLOOR else 'FAIL'}")
    print(f"scheduler overhead per task: {1000 * overhead:.2f} ms ({TASKS} no-op tasks, 1 worker)")
    print(f"the three engines gave the same scores: {'yes' if same else 'NO'}")
    print("one core grades, per hour: " + ", ".join(f"{h['assignment']} {h['per_hour']}" for h in hourly))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "grading_scale.json"
    out.write_text(json.dumps({"submissions": n, "rounds": rounds, "times_s": times, "median_s": med,
                               "speedup_2_vs_1": speedup, "dask2_vs_pool2": vs_pool, "task_overhead_s": overhead,
                               "cluster_startup_s": started, "same_scores": same, "per_hour": hourly,
                               "cpus": os.cpu_count(), "machine": platform.platform()}, indent=1) + "\n")
    print(f"wrote {out}")
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
