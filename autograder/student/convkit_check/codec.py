"""One encoding of the values a case holds and a call exchanges: a JSON tree plus a list of numeric arrays.

It serves the case files (``public_cases.json`` + ``.npz``, read the same way by the self-check and the grader)
and every value that crosses the grader's sandbox boundary. The sandbox worker executes this file's SOURCE TEXT (it
imports nothing of the kit), so it depends on NumPy and the standard library only, and on nothing of its package.

Tags (single-key dicts) mark what JSON cannot say:

    {"$nd": i}        array i: an ndarray of numeric dtype (as ``.npy``, loaded with ``allow_pickle=False``)
    {"$np": i}        array i is 0-d and decodes to a NumPy scalar (np.float32(1.5) stays np.float32)
    {"$tuple": [..]}  a tuple (tuples come back as tuples)
    {"$dict": {..}}   a dict with str keys (every dict is wrapped, so a key can never forge a tag)
    {"$fn": name}     a named test function of :data:`CALLABLES`              } only where ``named=True``:
    {"$raises": [..]} a :class:`Raises` (a mistake's answer that is an error)  } case files, grader -> worker

Plain JSON lists are lists; str, int, float (NaN and inf included), bool and None are themselves. The decoder is
the trust boundary: whatever the peer (or an edited case file) holds, it yields only those types, base
``np.ndarray`` objects of numeric dtype and NumPy scalars, each array used once, within the caps it is given.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

__all__ = ["Caps", "CodecError", "Raises", "CALLABLES", "NUMERIC_KINDS", "encode", "decode", "to_npy"]

# bool, signed and unsigned integers, floats, complex: the dtypes a value may hold.
NUMERIC_KINDS = "biufc"
_MAX_DEPTH = 64


class CodecError(ValueError):
    """A value that cannot be encoded, or a tree and arrays that are not a valid encoded value."""


class Caps:
    """Size caps: bytes per array, arrays per value; a frame's header and total bytes (the sandbox's framing)."""

    def __init__(self, header_bytes=16 << 20, array_bytes=64 << 20, total_bytes=256 << 20, max_blobs=4096):
        self.header_bytes = int(header_bytes)
        self.array_bytes = int(array_bytes)
        self.total_bytes = int(total_bytes)
        self.max_blobs = int(max_blobs)


@dataclass(frozen=True)
class Raises:
    """A mistake's answer that is an exception: code making that mistake raises one of ``type_names`` where the
    reference returns a value (a stride that does not divide the input rejected, say). Kept in ``diagnoses``."""

    type_names: tuple


# The named test functions of numerical_gradient cases: a value holds only the name.
_FIXED = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
CALLABLES = {
    "square": lambda x: x * x,
    "sin": np.sin,
    "cube_sum_rows": lambda x: (x ** 3).sum(axis=-1),
    "tanh_scaled": lambda x: np.tanh(2.0 * x) + 0.5 * x,
    "matmul_fixed": lambda x: x @ _FIXED,
    "exp_normalised": lambda x: np.exp(x) / np.exp(x).sum(),
}


def _check_array(arr, caps, what):
    if type(arr) is not np.ndarray:
        raise CodecError(f"{what} is a {type(arr).__name__}, not a base numpy.ndarray")
    if arr.dtype.kind not in NUMERIC_KINDS or arr.dtype.fields is not None:
        raise CodecError(f"{what} has dtype {arr.dtype}; only numeric arrays (bool, int, uint, float, complex) are "
                         "supported")
    if arr.nbytes > caps.array_bytes:
        raise CodecError(f"{what} has shape {arr.shape} and {arr.nbytes} bytes, over the cap of {caps.array_bytes} "
                         "bytes")


def encode(value, caps: Caps, named: bool = False):
    """``value`` as ``(tree, arrays)``; raise CodecError naming the first part that cannot be encoded.
    ``named``: the test functions of :data:`CALLABLES` and :class:`Raises` may be part of it (by name)."""
    arrays: list = []
    names = {id(f): n for n, f in CALLABLES.items()} if named else {}

    def add(arr):
        arrays.append(arr)
        if len(arrays) > caps.max_blobs:
            raise CodecError(f"more than {caps.max_blobs} arrays in one value")
        return len(arrays) - 1

    def enc(x, depth, where):
        if depth > _MAX_DEPTH:
            raise CodecError(f"{where} is nested deeper than {_MAX_DEPTH} levels")
        t = type(x)
        if x is None or t is bool or t is str or t is int or t is float:
            return x
        if isinstance(x, np.ndarray):
            # A subclass (np.matrix, a class with a lying __eq__) is encoded as its plain data, never as itself.
            base = np.ndarray.view(x, np.ndarray) if t is not np.ndarray else x
            _check_array(base, caps, where)
            return {"$nd": add(base)}
        if isinstance(x, np.generic):
            arr = np.asarray(x)
            if type(arr) is not np.ndarray or arr.dtype.kind not in NUMERIC_KINDS:
                raise CodecError(f"{where} is a numpy scalar of dtype {arr.dtype}; only numeric ones are supported")
            return {"$np": add(arr)}
        if t is list:
            return [enc(v, depth + 1, f"{where}[{i}]") for i, v in enumerate(x)]
        if t is tuple:
            return {"$tuple": [enc(v, depth + 1, f"{where}[{i}]") for i, v in enumerate(x)]}
        if t is dict:
            out = {}
            for k, v in x.items():
                if type(k) is not str:
                    raise CodecError(f"{where} has a key of type {type(k).__name__}; only str keys are supported")
                out[k] = enc(v, depth + 1, f"{where}[{k!r}]")
            return {"$dict": out}
        if id(x) in names:
            return {"$fn": names[id(x)]}
        if named and t is Raises:
            return {"$raises": [str(n) for n in x.type_names]}
        raise CodecError(f"{where} is a {t.__module__}.{t.__qualname__}; only numeric arrays, numbers, str, bool, "
                         "None and lists/tuples/dicts of them are supported")

    return enc(value, 0, "value"), arrays


def to_npy(arr) -> bytes:
    """One encoded array as ``.npy`` bytes (never a pickle)."""
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def decode(tree, arrays, caps: Caps, named: bool = False):
    """Rebuild a value from ``tree`` and ``arrays`` (each ``.npy`` bytes, or an ndarray already loaded with
    ``allow_pickle=False``); the result holds only trusted types. ``named``: as for :func:`encode`."""
    used = set()

    def load(i, what):
        if type(i) is not int or not 0 <= i < len(arrays) or i in used:
            raise CodecError(f"{what} refers to array {i!r}, which is missing or used twice")
        used.add(i)
        arr = arrays[i]
        if isinstance(arr, (bytes, bytearray, memoryview)):
            try:
                arr = np.load(io.BytesIO(arr), allow_pickle=False)
            except Exception as exc:  # malformed .npy, object dtype refused by allow_pickle=False, ...
                raise CodecError(f"{what} is not a valid numeric .npy array: {exc}") from None
        _check_array(arr, caps, what)
        return arr

    def dec(x, depth, where):
        if depth > _MAX_DEPTH:
            raise CodecError(f"{where} is nested deeper than {_MAX_DEPTH} levels")
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
                    raise CodecError(f"{where} is tagged as a scalar but has shape {arr.shape}")
                return arr[()]
            if tag == "$tuple" and type(body) is list:
                return tuple(dec(v, depth + 1, f"{where}[{i}]") for i, v in enumerate(body))
            if tag == "$dict" and type(body) is dict:
                return {k: dec(v, depth + 1, f"{where}[{k!r}]") for k, v in body.items()}
            if named and tag == "$fn" and type(body) is str and body in CALLABLES:
                return CALLABLES[body]
            if named and tag == "$raises" and type(body) is list and all(type(n) is str for n in body):
                return Raises(tuple(body))
        raise CodecError(f"{where} is not a valid encoded value")

    return dec(tree, 0, "value")
