"""A stateful frame decoder that counts every outcome (for the live runner and the soak)."""

from __future__ import annotations

from csx_core.contracts import EVENT_DESCRIPTORS
from csx_core.wire.decode import DEFAULT_MAX_FRAME_BYTES, Decoded, Ignored, decode_frame
from csx_core.wire.depth import DepthUpdate, WireError, WireErrorKind
from csx_core.wire.messages import Control

_KINDS: dict[type, str] = {
    **{d.contract: d.kind for d in EVENT_DESCRIPTORS},
    DepthUpdate: "depth",
    Control: "control",
    Ignored: "ignored",
}
DECODED_KINDS: tuple[str, ...] = tuple(_KINDS.values())
"""Keys of :attr:`FrameDecoder.decoded`: the event kinds, ``depth``, ``control``, ``ignored``."""


class FrameDecoder:
    """:func:`decode_frame` plus per-outcome counters.

    :attr:`decoded` counts successful outcomes by kind (see :data:`DECODED_KINDS`),
    :attr:`errors` rejected frames by :class:`WireErrorKind`. Counters only grow; reading
    them builds a fresh dict, so read them from the same thread that decodes.
    """

    def __init__(self, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._by_type: dict[type, int] = dict.fromkeys(_KINDS, 0)
        self._errors: dict[WireErrorKind, int] = dict.fromkeys(WireErrorKind, 0)

    def decode(self, frame: bytes | str, ts_recv: int) -> Decoded:
        """Decode one frame (``ts_recv`` in ns) and count the outcome; never raises."""
        out = decode_frame(frame, ts_recv, max_frame_bytes=self.max_frame_bytes)
        if type(out) is WireError:
            self._errors[out.kind] += 1
        else:
            self._by_type[type(out)] += 1
        return out

    @property
    def decoded(self) -> dict[str, int]:
        return {kind: self._by_type[t] for t, kind in _KINDS.items()}

    @property
    def errors(self) -> dict[WireErrorKind, int]:
        return dict(self._errors)

    @property
    def control(self) -> int:
        return self._by_type[Control]

    @property
    def total_errors(self) -> int:
        return sum(self._errors.values())

    @property
    def total(self) -> int:
        return sum(self._by_type.values()) + self.total_errors

    def stats(self) -> dict[str, int]:
        """Flat snapshot, e.g. ``{"decoded.trade": 10, "errors.bad_json": 1, ...}``."""
        out = {f"decoded.{k}": v for k, v in self.decoded.items()}
        out.update({f"errors.{k.value}": v for k, v in self._errors.items()})
        return out
