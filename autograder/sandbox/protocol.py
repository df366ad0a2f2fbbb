"""Framing between the grader and a sandboxed worker: JSON headers and `.npy` blobs, never pickles.

This module is shared by both sides: the grader imports it, and the worker receives its *source text* and executes it
(the worker never imports anything from the repository). It therefore depends on the standard library only.

A frame on a pipe is::

    u32 big-endian header length | header (UTF-8 JSON) | for each of header["nblobs"] blobs: u64 length | bytes

Values are the trees and arrays of the one encoding of convkit_check's codec (``autograder/student/convkit_check/
codec.py``): each array is one blob in ``.npy`` format, loaded with ``allow_pickle=False``. The worker receives the
codec's source text too.
"""
from __future__ import annotations

import json
import os
import select
import struct
import time

__all__ = ["FrameError", "PeerClosed", "FrameTimeout", "write_frame", "read_frame", "wait_readable"]

_HDR = struct.Struct(">I")
_BLOB = struct.Struct(">Q")


class FrameError(Exception):
    """The peer sent something that is not a valid frame (too big, malformed)."""


class PeerClosed(FrameError):
    """The pipe reached end of file: the peer is gone."""


class FrameTimeout(FrameError):
    """The deadline passed before a whole frame arrived or could be sent."""


# ---------------------------------------------------------------------------------------------------------- pipes

def _wait(fd, events, deadline, alive_fd=None):
    """Wait until ``fd`` is ready; ``alive_fd`` (a pidfd) readable alone means the peer process has exited."""
    if deadline is None and alive_fd is None:
        return
    p = select.poll()
    p.register(fd, events)
    if alive_fd is not None:
        p.register(alive_fd, select.POLLIN)
    while True:
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise FrameTimeout("deadline passed")
        ready = dict(p.poll(None if remaining is None else remaining * 1000.0))
        if fd in ready:
            return
        if alive_fd in ready:
            raise PeerClosed("the peer process exited")


def wait_readable(fd, deadline, alive_fd=None):
    """Wait until ``fd`` has data (FrameTimeout past ``deadline``, PeerClosed when the ``alive_fd`` process ends)."""
    _wait(fd, select.POLLIN, deadline, alive_fd)


def _read_exact(fd, n, deadline, alive_fd=None):
    chunks, got = [], 0
    while got < n:
        _wait(fd, select.POLLIN, deadline, alive_fd)
        try:
            chunk = os.read(fd, min(n - got, 1 << 20))
        except BlockingIOError:
            continue
        if not chunk:
            raise PeerClosed("the peer closed the pipe")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(fd, caps, deadline=None, alive_fd=None):
    """Read one frame; return ``(header, blobs)``. ``caps``: a codec ``Caps`` (header, array and total bytes, blob
    count). ``deadline`` is a time.monotonic() value or None."""
    (hlen,) = _HDR.unpack(_read_exact(fd, _HDR.size, deadline, alive_fd))
    if hlen > caps.header_bytes:
        raise FrameError(f"header of {hlen} bytes is over the cap of {caps.header_bytes} bytes")
    try:
        header = json.loads(_read_exact(fd, hlen, deadline, alive_fd).decode("utf-8"))
    except FrameError:
        raise
    except Exception as exc:  # bad UTF-8, bad JSON, nesting that overflows the parser
        raise FrameError(f"header is not valid JSON: {type(exc).__name__}") from None
    if type(header) is not dict:
        raise FrameError("header is not a JSON object")
    nblobs = header.get("nblobs", 0)
    if type(nblobs) is not int or not 0 <= nblobs <= caps.max_blobs:
        raise FrameError(f"frame announces {nblobs!r} blobs (cap {caps.max_blobs})")
    blobs, total = [], 0
    for _ in range(nblobs):
        (blen,) = _BLOB.unpack(_read_exact(fd, _BLOB.size, deadline, alive_fd))
        total += blen
        # A .npy header is at most a few hundred bytes on top of the data.
        if blen > caps.array_bytes + 4096 or total > caps.total_bytes:
            raise FrameError(f"an array of {blen} bytes is over the cap of {caps.array_bytes} bytes")
        blobs.append(_read_exact(fd, blen, deadline, alive_fd))
    return header, blobs


def write_frame(fd, header: dict, blobs=(), deadline=None):
    """Write one frame. ``fd`` may be non-blocking: a peer that stops reading runs into the deadline."""
    header = dict(header, nblobs=len(blobs))
    body = json.dumps(header, ensure_ascii=False, allow_nan=True).encode("utf-8")
    parts = [_HDR.pack(len(body)), body]
    for b in blobs:
        parts.append(_BLOB.pack(len(b)))
        parts.append(b)
    view = memoryview(b"".join(parts))
    while view:
        _wait(fd, select.POLLOUT, deadline)
        try:
            n = os.write(fd, view[: 1 << 20])
        except BlockingIOError:
            continue
        except BrokenPipeError:
            raise PeerClosed("the peer closed the pipe") from None
        view = view[n:]
