"""Binance USD-M wire format <-> project contracts (pure, never raises on bad input).

Decoding (``ts_event`` = payload ``E`` ms × 1_000_000 ns; ``ts_recv`` ns is the caller's)::

    decode_frame(frame: bytes | str, ts_recv: int, *, max_frame_bytes=DEFAULT_MAX_FRAME_BYTES)
        -> Trade | BookTop | Kline | MarkPrice | Liquidation | DepthUpdate
           | Control | Ignored | WireError
    FrameDecoder(*, max_frame_bytes=...).decode(frame, ts_recv) -> same, and counts it in
        .decoded[kind] (kind in DECODED_KINDS) / .errors[WireErrorKind]; .stats() flat dict
    decode_depth_snapshot(body, *, max_bytes=...) -> DepthSnapshot | WireError   (REST depth)
    partial_depth_top(update: DepthUpdate, *, levels=5) -> DepthTop | WireError

Frames: combined ``{"stream","data"}`` or raw payloads for aggTrade, trade, bookTicker,
markPriceUpdate, kline, forceOrder, depthUpdate (24hrTicker/24hrMiniTicker -> Ignored;
``{"result","id"}`` / ``{"code","msg"}`` -> Control). Array payloads (``!…@arr``) are
rejected as NOT_A_FRAME.

Encoding (for the simulator and the fake exchange; times written as whole ms)::

    encode_payload(event: MarketEvent) -> bytes      # raw-stream payload JSON
    encode_combined(event: MarketEvent) -> bytes     # {"stream": stream_name(e), "data": ...}
    stream_name(event: MarketEvent) -> str           # "btcusdt@aggTrade", "@bookTicker",
                                                     # "@kline_1m", "@markPrice@1s", "@forceOrder"

``decode_frame(encode_combined(e), e.ts_recv) == e`` for every valid event whose times are
whole milliseconds. Trades encode as aggTrade.
"""

from csx_core.wire.counters import DECODED_KINDS, FrameDecoder
from csx_core.wire.decode import DEFAULT_MAX_FRAME_BYTES, Decoded, Ignored, decode_frame
from csx_core.wire.depth import (
    DepthSnapshot,
    DepthTop,
    DepthUpdate,
    PriceLevels,
    WireError,
    WireErrorKind,
    decode_depth_snapshot,
    partial_depth_top,
)
from csx_core.wire.encode import decimal_str, encode_combined, encode_payload, stream_name
from csx_core.wire.messages import Control

__all__ = [
    "DECODED_KINDS",
    "DEFAULT_MAX_FRAME_BYTES",
    "Control",
    "Decoded",
    "DepthSnapshot",
    "DepthTop",
    "DepthUpdate",
    "FrameDecoder",
    "Ignored",
    "PriceLevels",
    "WireError",
    "WireErrorKind",
    "decimal_str",
    "decode_depth_snapshot",
    "decode_frame",
    "encode_combined",
    "encode_payload",
    "partial_depth_top",
    "stream_name",
]
