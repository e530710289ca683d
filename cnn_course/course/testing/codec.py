"""Case data as JSON: numbers, strings, lists, dicts, tuples, slices and arrays.

The visible checks shipped with the library (``cnn_course/course/checks/*.json``), the
grader's jobs for the trusted runner and the runner's answers all use this one
encoding, so an array or a tuple means the same thing everywhere. Arrays travel as
raw bytes in base64 with their dtype and shape; object arrays and pickles never do.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import numpy as np

MAX_ARRAY_BYTES = 256 * 2**20  # a decoded array may not claim more than this


class CodecError(ValueError):
    """Data that is not in the case encoding (or claims too much memory)."""


def encode(value: Any) -> Any:
    """A JSON-able form of ``value``; raises ``CodecError`` for what cannot travel."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray) or _is_tensor(value):
        array = np.ascontiguousarray(_as_numpy(value))
        if array.dtype.kind not in "biufc":
            raise CodecError(f"cannot send an array of dtype {array.dtype}")
        return {"__ndarray__": base64.b64encode(array.tobytes()).decode("ascii"),
                "dtype": array.dtype.str, "shape": list(array.shape)}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, slice):
        return {"__slice__": [encode(value.start), encode(value.stop), encode(value.step)]}
    raise CodecError(f"cannot send a value of type {type(value).__name__}")


def decode(data: Any) -> Any:
    """The value that :func:`encode` encoded; ``CodecError`` for anything else."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict) or len(data) not in (1, 3):
        raise CodecError("not in the case encoding")
    if "__ndarray__" in data:
        return _decode_array(data)
    (key, inner), = data.items()
    if key == "__tuple__" and isinstance(inner, list):
        return tuple(decode(v) for v in inner)
    if key == "__dict__" and isinstance(inner, list):
        out = {}
        for pair in inner:
            if not isinstance(pair, list) or len(pair) != 2:
                raise CodecError("a dict entry is not a [key, value] pair")
            k = decode(pair[0])
            try:
                out[k] = decode(pair[1])
            except TypeError:  # an unhashable key
                raise CodecError("a dict key is not hashable") from None
        return out
    if key == "__slice__" and isinstance(inner, list) and len(inner) == 3:
        return slice(*(decode(v) for v in inner))
    if key == "__float__" and inner in ("nan", "inf", "-inf"):
        return float(inner)
    raise CodecError(f"unknown tag {key!r}")


def _decode_array(data: dict) -> np.ndarray:
    try:
        dtype = np.dtype(data["dtype"])
        shape = tuple(int(s) for s in data["shape"])
    except (KeyError, TypeError, ValueError) as err:
        raise CodecError(f"bad array header: {err}") from None
    if dtype.kind not in "biufc" or any(s < 0 for s in shape):
        raise CodecError(f"bad array header: dtype {dtype}, shape {shape}")
    size = dtype.itemsize * math.prod(shape)
    if size > MAX_ARRAY_BYTES:
        raise CodecError(f"an array of {size} bytes is larger than allowed")
    raw = data["__ndarray__"]
    if not isinstance(raw, str) or len(raw) > 2 * MAX_ARRAY_BYTES:
        raise CodecError("bad array data")
    try:
        buffer = base64.b64decode(raw, validate=True)
    except ValueError:
        raise CodecError("array data is not base64") from None
    if len(buffer) != size:
        raise CodecError(f"array data has {len(buffer)} bytes, its header says {size}")
    return np.frombuffer(buffer, dtype=dtype).reshape(shape).copy()


def dumps(value: Any) -> str:
    return json.dumps(encode(value), separators=(",", ":"), sort_keys=False)


def loads(text: str | bytes) -> Any:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise CodecError(f"not JSON: {err}") from None
    return decode(data)


def _is_tensor(value: Any) -> bool:
    return type(value).__module__ == "torch" and hasattr(value, "detach")


def _as_numpy(value: Any) -> np.ndarray:
    if _is_tensor(value):
        return value.detach().cpu().numpy()
    return value
