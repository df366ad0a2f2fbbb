"""Grading on a Dask distributed cluster: ``autograder grade --scheduler ADDRESS`` (or ``local``).

Each submission is one Dask task running :func:`autograder.grade.grade_task`, the function the process pool runs
too. What crosses the network is the notebook's bytes, the assignment's name, the limits (plain numbers) and the
JSON text of the result: no object built from student code (Dask moves pickles). The client stays the only writer
of result files and of the gradebook, so a worker needs the kit installed and nothing of the course.

A worker grades one submission at a time (the graded suite is a pytest session, and pytest's state is per
process): start workers with ``--nthreads 1`` and as many ``--nworkers`` as they have cores. Before the batch,
every worker is probed once (:func:`probe`): its host, threads, grader fingerprint and sandbox layers, which the
client compares and reports.
"""
from __future__ import annotations

import contextlib
import ipaddress
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor

__all__ = ["LOCAL", "ClusterError", "security", "plain_tcp_warning", "probe", "dask_executor",
           "PLAIN_TCP", "NO_WORKERS", "THREADED_WORKER", "LAYERS_DIFFER", "KIT_DIFFERS", "CANNOT_CONNECT",
           "TLS_INCOMPLETE", "TLS_NEEDED"]

PRELOAD = "autograder.dask_worker"  # `dask worker --preload` module: the graders imported as the worker starts
LOCAL = "local"  # --scheduler local: a LocalCluster of this machine's cores, started and stopped with the batch
WORKERS_WAIT_S = 60.0
CAPACITY_REFRESH_S = 1.0
CONNECT_TIMEOUT_S = 30.0

PLAIN_TCP = ("the scheduler {address} is reached over plain tcp:// beyond this machine: notebooks and scores cross "
             "the network unencrypted, and anyone who can reach the scheduler can run code on the workers; use a "
             "tls:// address with --tls-ca-file, --tls-cert and --tls-key")
NO_WORKERS = ("no Dask worker joined the scheduler {address} within {seconds:g} s: start `dask worker {address} "
              "--nthreads 1` on each grading machine (with the kit installed)")
THREADED_WORKER = ("Dask worker {worker} runs {threads} threads: it grades one submission at a time anyway; start "
                   "it with --nthreads 1 and --nworkers N to grade N at once")
LAYERS_DIFFER = "the workers' sandbox layers differ ({detail}): install the same layers (bubblewrap) on every worker"
KIT_DIFFERS = ("Dask worker {worker} runs another version of the grader ({theirs}; this client: {ours}): its "
               "results are refused; install the same convkit on every worker")
CANNOT_CONNECT = "could not reach the Dask scheduler {address}: {reason}"
TLS_NEEDED = ("the scheduler {address} speaks TLS: give this client's certificate with --tls-ca-file, --tls-cert "
              "and --tls-key")
TLS_INCOMPLETE = "TLS needs all three of --tls-ca-file, --tls-cert and --tls-key (missing: {missing})"


class ClusterError(RuntimeError):
    """The cluster cannot grade: the scheduler is unreachable, refuses us, or has no worker."""


def security(ca_file=None, cert=None, key=None):
    """A ``distributed.Security`` requiring TLS with this CA, client certificate and key; None when none is given."""
    given = {"--tls-ca-file": ca_file, "--tls-cert": cert, "--tls-key": key}
    if not any(given.values()):
        return None
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise ClusterError(TLS_INCOMPLETE.format(missing=", ".join(missing)))
    from distributed import Security

    return Security(tls_ca_file=str(ca_file), tls_client_cert=str(cert), tls_client_key=str(key),
                    require_encryption=True)


def plain_tcp_warning(address: str) -> str | None:
    """PLAIN_TCP when ``address`` is a plain tcp:// one (or has no scheme) whose host is not this machine's loopback."""
    from distributed.comm import parse_address, parse_host_port

    scheme, location = parse_address(address)
    if scheme not in ("tcp", "") or address == LOCAL:
        return None
    host = parse_host_port(location)[0]
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        loopback = False
    return None if loopback else PLAIN_TCP.format(address=address)


def probe(assignment: str, dask_worker) -> dict:
    """Run on every worker (``Client.run`` passes ``dask_worker``) before a batch: what it grades with. It also
    computes the assignment's cases there (from the worker's reference), once per worker process, before the first
    submission arrives."""
    from autograder.assignment import DEFAULT_LIMITS
    from autograder.engines import _cases
    from autograder.results import grader_fingerprint
    from autograder.sandbox import Sandbox

    _cases(assignment)
    with Sandbox("", limits=DEFAULT_LIMITS) as sandbox:
        layers, missing = sorted(sandbox.layers), dict(sandbox.missing)
    from autograder.engines import worker_label

    return {"label": worker_label(dask_worker), "threads": dask_worker.state.nthreads, "grader": grader_fingerprint(),
            "layers": layers, "missing": missing}


@contextlib.contextmanager
def dask_executor(scheduler: str, assignment: str, *, workers: int | None, security=None,
                  warnings: list[str], probes: dict[str, dict]) -> Iterator[tuple[Executor, Callable[[], int]]]:
    """``(executor, capacity)`` on the cluster at ``scheduler`` (LOCAL: a LocalCluster of ``workers`` single-threaded
    processes on this machine). ``capacity()`` is the number of submissions the cluster grades at once now.
    What the probe found is added to ``probes`` (by worker address) and anything to fix to ``warnings``."""
    from distributed import Client, LocalCluster

    from autograder.results import grader_fingerprint

    if scheduler.startswith("tls://") and security is None:
        raise ClusterError(TLS_NEEDED.format(address=scheduler))
    cluster = None
    try:
        if scheduler == LOCAL:
            cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address=":0",  # loopback only: no TLS needed
                                   preload=[PRELOAD])
            client = Client(cluster)
            # The LocalCluster's workers are this process's: they end, with their sandboxes and cgroups, when it
            # ends, kill -9 included (a plugin, so a worker its nanny restarts watches too).
            client.register_plugin(_LeaderWatch(os.getpid()))
        else:
            if (warning := plain_tcp_warning(scheduler)) is not None:
                warnings.append(warning)
            client = Client(scheduler, security=security, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        if cluster is not None:
            cluster.close()
        raise ClusterError(CANNOT_CONNECT.format(address=scheduler, reason=f"{type(exc).__name__}: {exc}")) from None
    try:
        try:
            client.wait_for_workers(1, timeout=WORKERS_WAIT_S)
        except TimeoutError:
            raise ClusterError(NO_WORKERS.format(address=scheduler, seconds=WORKERS_WAIT_S)) from None
        probes.update(client.run(probe, assignment))
        warnings.extend(_probe_warnings(probes, grader_fingerprint()))
        yield client.get_executor(pure=False), _capacity(client)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _capacity(client) -> Callable[[], int]:
    """How many submissions the cluster grades at once: its threads, asked of the scheduler at most once a second
    (each ask is a round trip through the client's event loop, and the batch asks after every result)."""
    last = {"at": -1.0, "threads": 1}

    def capacity() -> int:
        now = time.monotonic()
        if now - last["at"] >= CAPACITY_REFRESH_S:
            last["at"], last["threads"] = now, max(1, sum(client.nthreads().values()))
        return int(last["threads"])

    return capacity


try:  # a class needs its base at definition time; distributed is an instructor-side dependency
    from distributed.diagnostics.plugin import WorkerPlugin as _WorkerPlugin
except ImportError:  # pragma: no cover - without distributed there is no cluster to plug into
    _WorkerPlugin = object  # type: ignore[misc,assignment]


class _LeaderWatch(_WorkerPlugin):
    name = "convkit-leader-watch"

    def __init__(self, leader: int):
        self.leader = leader

    def setup(self, worker) -> None:
        from autograder.sandbox.lifeline import watch_leader

        watch_leader(self.leader)


def _probe_warnings(probes: dict[str, dict], ours: str) -> list[str]:
    found = []
    for address, info in sorted(probes.items()):
        if info["threads"] > 1:
            found.append(THREADED_WORKER.format(worker=address, threads=info["threads"]))
        if info["grader"] != ours:
            found.append(KIT_DIFFERS.format(worker=address, theirs=info["grader"], ours=ours))
    layer_sets = {tuple(info["layers"]) for info in probes.values()}
    if len(layer_sets) > 1:
        detail = "; ".join(f"{address}: {', '.join(info['layers']) or 'none'}"
                           for address, info in sorted(probes.items()))
        found.append(LAYERS_DIFFER.format(detail=detail))
    return found
