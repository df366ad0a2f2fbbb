"""GPU routing, planned and tested on the CPU: the PyTorch cross-check is a Dask task that needs the resource
``GPU``, so of a real cluster's workers only one started with ``--resources GPU=1`` runs it (here a CPU worker that
advertises it); a cluster without such a worker is refused with a line that says how to start one."""
from __future__ import annotations

import subprocess
import sys

import pytest

from autograder.cluster import ClusterError
from autograder.crosscheck import NO_GPU_WORKER, crosscheck_on
from tests.helpers import stop

pytestmark = pytest.mark.slow

distributed = pytest.importorskip("distributed")
pytest.importorskip("torch")

JOIN_WAIT_S = 60


def test_the_crosscheck_runs_only_on_the_worker_that_advertises_a_gpu():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        address = cluster.scheduler_address
        with pytest.raises(ClusterError) as caught:
            crosscheck_on(address)
        assert str(caught.value) == NO_GPU_WORKER.format(address=address)
        gpu = subprocess.Popen([sys.executable, "-m", "dask", "worker", address, "--nthreads", "1", "--name",
                                "gpu-worker", "--resources", "GPU=1", "--no-dashboard"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            client.wait_for_workers(3, timeout=JOIN_WAIT_S)
            gpu_address = next(a for a, w in client.scheduler_info(n_workers=-1)["workers"].items()
                               if w["name"] == "gpu-worker")
            reports = [crosscheck_on(address) for _ in range(3)]  # three tasks, two idle workers beside it
        finally:
            stop(gpu)
    assert all(r["worker"].endswith(f", dask worker gpu-worker {gpu_address}") for r in reports), reports
    assert all(r["ok"] and len(r["rows"]) == 36 for r in reports)
    assert reports[0]["device"].startswith("torch ")  # CUDA on a GPU machine, the CPU here


def test_the_crosscheck_command_runs_here_and_agrees_with_torch():
    proc = subprocess.run([sys.executable, "-c", "from autograder.cli import main; main()", "crosscheck"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.rstrip().endswith("36 of 36 rows agree with torch"), proc.stdout[-2000:]
    assert "cross-check on" in proc.stdout.splitlines()[0]
