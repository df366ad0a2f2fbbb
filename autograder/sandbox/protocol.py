"""Framing between the grader and a sandboxed worker: JSON headers and `.npy` blobs, never pickles.

This module is shared by both sides: the grader imports it, and the worker receives its *source text* and executes it
(the worker never imports anything from the repository). It therefore depends on the standard library and NumPy only.

A frame on a pipe is::

    u32 big-endian header length | header (UTF-8 JSON) | for each of header["nblobs"] blobs: u64 length | bytes

Values are encoded as a JSON tree plus a list of blobs. Tags (single-key dicts) mark what JSON cannot say:

    {"$nd": i}      blob i is an ndarray in .npy format (numeric dtypes only, loaded with allow_pickle=False)
    {"$np": i}      blob i is a 0-d .npy array that decodes to a NumPy scalar (np.float32(1.5) stays np.float32)
    {"$tuple": [..]} a tuple (tuples come back as tuples)
    {"$dict": {..}} a dict with str keys (every user dict is wrapped, so user keys can never forge a tag)

Plain JSON lists are lists; str, int, float (NaN and inf included), bool and None are themselves.
The decoder is the trust boundary: whatever the peer sent, it yields only those types, base ``np.ndarray`` objects of
numeric dtype, and NumPy scalars, within the size caps it is given.
"""
from __future__ import annotations

import io
import json
import os
import select
import struct
import time

import numpy as np

__all__ = ["Caps", "FrameError", "PeerClosed", "FrameTimeout", "encode", "decode", "write_frame", "read_frame",
           "wait_readable", "NUMERIC_KINDS"]

# bool, signed and unsigned integers, floats, complex: the dtypes a student function may exchange.
NUMERIC_KINDS = "biufc"
_MAX_DEPTH = 64
_HDR = struct.Struct(">I")
_BLOB = struct.Struct(">Q")


class FrameError(Exception):
    """The peer sent something that is not a valid frame or value (too big, malformed, a forbidden type)."""


class PeerClosed(FrameError):
    """The pipe reached end of file: the peer is gone."""


class FrameTimeout(FrameError):
    """The deadline passed before a whole frame arrived or could be sent."""


class Caps:
    """Size caps applied to every frame read: header bytes, bytes per array, total bytes, blob count."""

    def __init__(self, header_bytes=16 << 20, array_bytes=64 << 20, total_bytes=256 << 20, max_blobs=4096):
        self.header_bytes = int(header_bytes)
        self.array_bytes = int(array_bytes)
        self.total_bytes = int(total_bytes)
        self.max_blobs = int(max_blobs)


def _check_array(arr, caps, what):
    if type(arr) is not np.ndarray:
        raise FrameError(f"{what} is a {type(arr).__name__}, not a base numpy.ndarray")
    if arr.dtype.kind not in NUMERIC_KINDS or arr.dtype.fields is not None:
        raise FrameError(f"{what} has dtype {arr.dtype}; only numeric arrays (bool, int, uint, float, complex) "
                         "cross the sandbox boundary")
    if arr.nbytes > caps.array_bytes:
        raise FrameError(f"{what} has shape {arr.shape} and {arr.nbytes} bytes, over the cap of "
                         f"{caps.array_bytes} bytes")


def encode(value, caps: Caps):
    """Encode ``value`` into ``(tree, blobs)``; raise FrameError naming the first unsupported part."""
    blobs: list[bytes] = []

    def enc(x, depth, where):
        if depth > _MAX_DEPTH:
            raise FrameError(f"{where} is nested deeper than {_MAX_DEPTH} levels")
        t = type(x)
        if x is None or t is bool or t is str or t is int or t is float:
            return x
        if isinstance(x, np.ndarray):
            # A subclass (np.matrix, a class with a lying __eq__) crosses as its plain data, never as itself.
            base = np.ndarray.view(x, np.ndarray) if t is not np.ndarray else x
            _check_array(base, caps, where)
            return {"$nd": _blob(base)}
        if isinstance(x, np.generic):
            arr = np.asarray(x)
            if type(arr) is not np.ndarray or arr.dtype.kind not in NUMERIC_KINDS:
                raise FrameError(f"{where} is a numpy scalar of dtype {arr.dtype}; only numeric ones are supported")
            return {"$np": _blob(arr)}
        if t is list:
            return [enc(v, depth + 1, f"{where}[{i}]") for i, v in enumerate(x)]
        if t is tuple:
            return {"$tuple": [enc(v, depth + 1, f"{where}[{i}]") for i, v in enumerate(x)]}
        if t is dict:
            out = {}
            for k, v in x.items():
                if type(k) is not str:
                    raise FrameError(f"{where} has a key of type {type(k).__name__}; only str keys are supported")
                out[k] = enc(v, depth + 1, f"{where}[{k!r}]")
            return {"$dict": out}
        raise FrameError(f"{where} is a {t.__module__}.{t.__qualname__}; only numeric arrays, numbers, str, bool, "
                         "None and lists/tuples/dicts of them cross the sandbox boundary")

    def _blob(arr):
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        blobs.append(buf.getvalue())
        if len(blobs) > caps.max_blobs:
            raise FrameError(f"more than {caps.max_blobs} arrays in one value")
        return len(blobs) - 1

    tree = enc(value, 0, "value")
    return tree, blobs


def decode(tree, blobs, caps: Caps):
    """Rebuild a value from a tree and blobs received from the peer; the result holds only trusted types."""
    used = set()

    def load(i, what):
        if type(i) is not int or not 0 <= i < len(blobs) or i in used:
            raise FrameError(f"{what} refers to blob {i!r}, which is missing or used twice")
        used.add(i)
        try:
            arr = np.load(io.BytesIO(blobs[i]), allow_pickle=False)
        except Exception as exc:  # malformed .npy, object dtype refused by allow_pickle=False, ...
            raise FrameError(f"{what} is not a valid numeric .npy array: {exc}") from None
        _check_array(arr, caps, what)
        return arr

    def dec(x, depth, where):
        if depth > _MAX_DEPTH:
            raise FrameError(f"{where} is nested deeper than {_MAX_DEPTH} levels")
        t = type(x)
        if x is None or t is bool or t is str or t is int or t is float:
            return x
        if t is list:
            return [dec(v, depth + 1, f"{where}[{i}]") for i, v in enumerate(x)]
        if t is dict and len(x) == 1:
            (tag, body), = x.items()
            if tag == "$nd":
                return load(body, where)
            if tag == "$np":
                arr = load(body, where)
                if arr.ndim != 0:
                    raise FrameError(f"{where} is tagged as a scalar but has shape {arr.shape}")
                return arr[()]
            if tag == "$tuple" and type(body) is list:
                return tuple(dec(v, depth + 1, f"{where}[{i}]") for i, v in enumerate(body))
            if tag == "$dict" and type(body) is dict:
                return {k: dec(v, depth + 1, f"{where}[{k!r}]") for k, v in body.items()}
        raise FrameError(f"{where} is not a valid encoded value")

    return dec(tree, 0, "value")


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


def read_frame(fd, caps: Caps, deadline=None, alive_fd=None):
    """Read one frame; return ``(header, blobs)``. ``deadline`` is a time.monotonic() value or None."""
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
