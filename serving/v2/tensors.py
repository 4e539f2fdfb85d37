"""Open Inference Protocol v2 tensors: the datatype table, shapes, raw bytes.

A ``Tensor`` holds its values either as JSON data (a nested list, or a numpy array we produced)
or as the raw little-endian bytes of the binary tensor extension / gRPC ``raw_*_contents``;
``as_numpy`` reads both. Nothing here knows a model: servers validate the values themselves.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "DATATYPES",
    "INFERENCE_HEADER",
    "Tensor",
    "is_shape",
    "pack_bytes",
    "raw_bytes",
    "unpack_bytes",
]

# The binary tensor extension: the body is a JSON header of this many bytes, then the tensors.
INFERENCE_HEADER = "inference-header-content-length"

# v2 datatype -> numpy dtype of its raw (little-endian) bytes. BYTES is not fixed-width: each
# element is a 4-byte little-endian length and the bytes (``pack_bytes`` / ``unpack_bytes``).
DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("|b1"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
BYTES = "BYTES"
_LENGTH = struct.Struct("<I")


def is_shape(value: Any) -> bool:
    """A v2 shape: a list of non-negative integers (booleans are not integers here)."""
    return isinstance(value, list) and all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value
    )


@dataclass(eq=False)
class Tensor:
    """One v2 input or output tensor, whichever transport it came by or goes out on.

    ``data``: JSON values (a nested list; ``None`` for null) or a numpy array; ``raw``: the
    binary extension's bytes. ``binary`` (outputs only): send it as raw bytes after the JSON
    header. ``where`` names it in error messages (``inputs[0]``).
    """

    name: str
    datatype: str
    shape: list[int]
    data: Any = None
    raw: bytes | memoryview | None = None
    parameters: Mapping[str, Any] | None = None
    binary: bool = False
    where: str = ""

    def flat(self) -> np.ndarray:
        """The values, flat (raw bytes are read without a copy; ``KeyError``: unknown datatype,
        ``ValueError``: bytes or data that do not fit it)."""
        if self.raw is not None:
            if self.datatype == BYTES:
                return np.array(unpack_bytes(self.raw), dtype=np.object_)
            return np.frombuffer(self.raw, dtype=DATATYPES[self.datatype])
        if isinstance(self.data, np.ndarray):
            return self.data.reshape(-1)
        dtype = np.object_ if self.datatype == BYTES else DATATYPES[self.datatype]
        return np.array(self.data, dtype=dtype).reshape(-1)

    def as_numpy(self) -> np.ndarray:
        """The values as a numpy array of ``shape``."""
        return self.flat().reshape(self.shape)


def raw_bytes(array: np.ndarray, datatype: str) -> bytes:
    """The binary extension's bytes of ``array`` as ``datatype`` (little-endian, row-major)."""
    if datatype == BYTES:
        return pack_bytes(array.reshape(-1).tolist())
    return np.ascontiguousarray(array, dtype=DATATYPES[datatype]).tobytes()


def pack_bytes(values: Iterable[Any]) -> bytes:
    """BYTES elements in the binary layout; ``str`` is UTF-8 encoded, other non-bytes as ``str()``."""
    parts: list[bytes] = []
    for value in values:
        raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
        parts.append(_LENGTH.pack(len(raw)))
        parts.append(raw)
    return b"".join(parts)


def unpack_bytes(raw: bytes | memoryview) -> list[bytes]:
    """BYTES elements from the binary layout; raises ``ValueError`` on a truncated element."""
    view = memoryview(raw)
    out: list[bytes] = []
    pos = 0
    while pos < len(view):
        if pos + 4 > len(view):
            raise ValueError("truncated BYTES element")
        (size,) = _LENGTH.unpack_from(view, pos)
        pos += 4
        if pos + size > len(view):
            raise ValueError("truncated BYTES element")
        out.append(bytes(view[pos : pos + size]))
        pos += size
    return out
