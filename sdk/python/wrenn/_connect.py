"""Connect protocol framing (binary protobuf codec), free of I/O.

Streams carry envelopes: one flag byte, a 4-byte big-endian length, the
message. The last envelope has flag ``0x02`` and holds a JSON end-of-stream
message, ``{}`` or ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import json
import struct
from typing import Any

from ._errors import WrennError, make_error

FLAG_COMPRESSED = 0x01
FLAG_END_STREAM = 0x02
_HEADER = struct.Struct(">BI")
MAX_MESSAGE = 64 * 1024 * 1024


def envelope(message: bytes, flags: int = 0) -> bytes:
    """One enveloped message."""
    return _HEADER.pack(flags, len(message)) + message


class EnvelopeDecoder:
    """Splits a byte stream into ``(flags, message)`` envelopes as bytes arrive."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> list[tuple[int, bytes]]:
        self._buf += chunk
        out: list[tuple[int, bytes]] = []
        pos = 0
        buf = self._buf
        while len(buf) - pos >= 5:
            flags, size = _HEADER.unpack_from(buf, pos)
            if size > MAX_MESSAGE:
                raise WrennError(f"Connect message of {size} bytes is over the limit")
            if len(buf) - pos - 5 < size:
                break
            out.append((flags, bytes(buf[pos + 5 : pos + 5 + size])))
            pos += 5 + size
        if pos:
            del buf[:pos]
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete envelope still buffered."""
        return len(self._buf)


def end_stream_error(data: bytes, request_id: str | None) -> WrennError | None:
    """The error an end-of-stream message carries, if any."""
    try:
        end: Any = json.loads(data) if data else {}
    except ValueError:
        return WrennError("malformed Connect end-of-stream message", request_id=request_id)
    err = end.get("error") if isinstance(end, dict) else None
    if not isinstance(err, dict):
        return None
    code = err.get("code") if isinstance(err.get("code"), str) else "unknown"
    return make_error(None, code, str(err.get("message", code)), request_id)
