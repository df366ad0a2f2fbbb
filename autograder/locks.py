"""The course's grading lock: one ``autograder grade`` at a time per course, and the second one told who holds it.

Two locks, taken in this order and held for the batch: the course folder's (an flock on ``results/.grading.lock``)
and, when the gradebook is on PostgreSQL, the database's (a session advisory lock keyed on the course id). The
second matters when two TAs grade one course from two folders (two machines) into one shared gradebook: their
folders' flocks never meet, the database lock does. Both die with their holder (the kernel drops an flock, the
server a dead client's session), so a grader killed even by SIGKILL leaves no stale lock.
"""
from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import socket
import zlib

from autograder.course import Course, as_course

__all__ = ["CourseLocked", "LOCKED_MESSAGE", "DATABASE_HOLDER", "course_lock", "database_lock", "holder_line"]

LOCKED_MESSAGE = ("another `autograder grade` holds this course ({holder}): wait for it to finish, or run again "
                  "with --wait to queue behind it")
# The holder of the database lock, as PostgreSQL knows it: its application_name (holder_line) and connection.
DATABASE_HOLDER = "{name}; in the gradebook database, connected from {client} since {since}"
_LOCK_NAME = ".grading.lock"
# pg_advisory_lock(int4, int4): this kit's namespace, then the course id's hash, so no other application's
# advisory locks (nor another course's in the same database) collide with it.
_NAMESPACE = zlib.crc32(b"convkit grading lock") & 0x7FFFFFFF
_HOLDER_QUERY = """
SELECT a.application_name, a.client_addr, a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = :space AND l.objid::bigint = :key
  AND l.objsubid = 2
"""


class CourseLocked(RuntimeError):
    """Another grader holds the course's lock; the message names it (pid, host, since when, what it grades)."""


def holder_line(what: str) -> str:
    """How this process names itself as the lock's holder: pid, host, what it grades."""
    return f"pid {os.getpid()} on {socket.gethostname()}, grading {what}"


@contextlib.contextmanager
def course_lock(course, what: str, wait: bool = False):
    """Hold the course's grading lock for the duration of a batch: the folder's flock, then (a PostgreSQL
    gradebook) the database's advisory lock (:func:`database_lock`).

    One grader at a time per course: two at once would both grade everything and race on nbgrader's gradebook rows
    (``UNIQUE constraint failed``). Raises :class:`CourseLocked` naming the holder; ``wait``: queue behind it."""
    course = as_course(course)
    with _folder_lock(course, what, wait), database_lock(course, what, wait):
        yield


@contextlib.contextmanager
def _folder_lock(course: Course, what: str, wait: bool):
    # The lock file names its holder, so the second grader can say who it waits for.
    path = course.results / _LOCK_NAME
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
        os.pwrite(fd, f"{holder_line(what)}, since {stamp}".encode(), 0)
        try:
            yield
        finally:  # also when the database lock refused: the file names no holder once none holds it
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the descriptor releases the flock


@contextlib.contextmanager
def database_lock(course, what: str, wait: bool = False):
    """Hold the PostgreSQL advisory lock of ``course``'s course id in its gradebook for the duration (nothing for
    a SQLite gradebook: the folder's flock covers the only folder that can reach that file).

    The lock lives in a connection of its own (autocommit: never idle in a transaction for a whole batch), named
    by its ``application_name`` (:func:`holder_line`), which the refusal reads back from ``pg_stat_activity``.
    Raises :class:`CourseLocked` naming the holder, or :class:`~autograder.gradebook.GradebookURLError` when the
    server cannot be reached (host:port and its reason, never the password)."""
    from autograder.gradebook import check_url, engine_for, is_postgresql, unreachable

    course = as_course(course)
    if not is_postgresql(course.db_url):
        yield
        return
    from sqlalchemy import text
    from sqlalchemy.pool import NullPool

    check_url(course.db_url)
    key = {"space": _NAMESPACE, "key": zlib.crc32(course.course_id.encode()) & 0x7FFFFFFF}
    engine = engine_for(course.db_url, application_name=holder_line(what), poolclass=NullPool,
                        isolation_level="AUTOCOMMIT")
    try:
        try:
            conn = engine.connect()
        except Exception as exc:
            raise unreachable(course.db_url, exc) from None
        with conn:
            if wait:
                conn.execute(text("SELECT pg_advisory_lock(CAST(:space AS integer), CAST(:key AS integer))"), key)
            elif not conn.execute(text("SELECT pg_try_advisory_lock(CAST(:space AS integer), "
                                       "CAST(:key AS integer))"), key).scalar():
                raise CourseLocked(LOCKED_MESSAGE.format(holder=_database_holder(conn, key)))
            yield  # closing the connection ends the session, and the lock with it
    finally:
        engine.dispose()


def _database_holder(conn, key: dict) -> str:
    from sqlalchemy import text

    from autograder.safe_text import safe_line

    row = conn.execute(text(_HOLDER_QUERY), key).first()
    if row is None:  # released between the try and this query
        return "holder unknown: it has just finished"
    since = row.backend_start.isoformat(timespec="seconds") if row.backend_start else "unknown"
    # Another grader's own name, but through safe_line all the same: no terminal control reaches this one.
    return safe_line(DATABASE_HOLDER.format(name=row.application_name or "a client without a name",
                                            client=row.client_addr or "a local socket", since=since), 300)
