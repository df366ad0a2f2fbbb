"""Ending a grading process, and every sandbox worker it started, when the process that leads the batch dies.

After ``kill -9`` of ``autograder grade``, nothing tells its pool processes: they are the forkserver's children,
and each holds the write end of the pool's call queue, so they wait on it forever, and the forkserver and the
resource tracker (which exit only once every pool process has closed their pipes) stay with them. A pool process
calls :func:`watch_leader` in its initializer; when the leader ends, a thread kills this process's sandbox workers
(their process groups and cgroups, see ``proxy.kill_all``) and exits, and the rest of the tree follows.
"""
from __future__ import annotations

import os
import select
import threading
import time

__all__ = ["watch_leader"]

_POLL_S = 0.2  # only where pidfd_open is missing (Linux < 5.3, other systems)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die() -> None:
    from .proxy import kill_all

    kill_all()
    os._exit(1)


def watch_leader(pid: int) -> None:
    """End this process (and its sandbox workers) as soon as process ``pid`` ends, whatever killed it."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:  # the leader is already gone
        _die()
    except (AttributeError, OSError):
        fd = None

    def watch():
        if fd is not None:
            select.select([fd], [], [])  # a pidfd becomes readable when its process exits
        else:
            while _alive(pid):
                time.sleep(_POLL_S)
        _die()

    threading.Thread(target=watch, name="convkit-leader-watch", daemon=True).start()
