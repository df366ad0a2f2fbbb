"""The course's grading lock: one ``autograder grade`` at a time per course, and the second one told who holds it."""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import socket
from pathlib import Path

from autograder.course import as_course

__all__ = ["CourseLocked", "LOCKED_MESSAGE", "course_lock"]

LOCKED_MESSAGE = ("another `autograder grade` holds this course ({holder}): wait for it to finish, or run again "
                  "with --wait to queue behind it")
_LOCK_NAME = ".grading.lock"


class CourseLocked(RuntimeError):
    """Another grader holds the course's lock; the message names it (pid, host, since when, what it grades)."""


@contextlib.contextmanager
def course_lock(course: Path, what: str, wait: bool = False):
    """Hold the course's grading lock (``results/.grading.lock``, an flock) for the duration of a batch.

    One grader at a time per course: two at once would both grade everything and race on nbgrader's gradebook rows
    (``UNIQUE constraint failed``). The lock file names its holder, so the second one can say who it waits for. The
    kernel drops an flock when its holder dies (even by SIGKILL), so a crashed grader never leaves a stale lock."""
    path = as_course(course).results / _LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "holder unknown"
            raise CourseLocked(LOCKED_MESSAGE.format(holder=holder)) from None
        stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {stamp}, grading {what}".encode(), 0)
        yield
        os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the descriptor releases the flock
