"""A Dask worker ready to grade: ``dask worker ADDRESS --nthreads 1 --nworkers N --preload autograder.dask_worker``.

Imports what every grading task needs (the graders' modules: 2.5 s, most of it nbformat's JSON-schema checks) when
the worker starts, not in its first task: a standing cluster then grades its first submission as fast as its
hundredth. ``--scheduler local`` starts its workers with it too.
"""
from __future__ import annotations

__all__ = ["dask_setup"]


def dask_setup(worker) -> None:
    """Called by Dask once per worker process, before it takes a task."""
    import importlib

    from autograder.engines import _POOL_PRELOAD

    for module in _POOL_PRELOAD:
        importlib.import_module(module)
