"""Drop the frames two connections both delivered while a rollover overlaps them.

The identity of a frame is its stream plus the exchange's ids and event time (``E``, ``u``
update id, ``a`` aggregate trade id, ``t`` trade id, ``T`` transaction time), which are equal
for the same event on two connections even when the bytes differ. Only the overlap window
pays for this parse; outside it frames pass straight through.
"""

from __future__ import annotations

from collections import OrderedDict

import msgspec


class _Ids(msgspec.Struct):
    E: int | None = None
    u: int | None = None
    a: int | None = None
    t: int | None = None
    T: int | None = None


class _Frame(msgspec.Struct):
    stream: str = ""
    data: _Ids | None = None


_DECODER = msgspec.json.Decoder(_Frame)

FrameKey = tuple[str, int | None, int | None, int | None, int | None, int | None]


def frame_key(frame: bytes) -> FrameKey | None:
    """The event identity of a combined-stream frame, or None when it has none (malformed
    frames pass through to the decoder, which counts them)."""
    try:
        parsed = _DECODER.decode(frame)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    d = parsed.data
    if d is None or not parsed.stream:
        return None
    return (parsed.stream, d.E, d.u, d.a, d.t, d.T)


class OverlapDeduper:
    """Remembers the last ``capacity`` frame keys; ``seen_before`` is True for a repeat."""

    def __init__(self, capacity: int = 200_000) -> None:
        self._keys: OrderedDict[FrameKey, None] = OrderedDict()
        self._capacity = capacity
        self.duplicates = 0

    def seen_before(self, frame: bytes) -> bool:
        key = frame_key(frame)
        if key is None:
            return False
        if key in self._keys:
            self.duplicates += 1
            return True
        self._keys[key] = None
        if len(self._keys) > self._capacity:
            self._keys.popitem(last=False)
        return False
