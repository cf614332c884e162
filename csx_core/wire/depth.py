"""Order-book payloads: diff/partial depth updates and the REST depth snapshot.

A :class:`DepthUpdate` is not a MarketEvent: it is the input of a local order book (diff
depth) or, for partial depth (``@depth5/10/20``), of :func:`partial_depth_top`, which turns
it into a :class:`BookTop` plus a top-N depth imbalance. Times are ns; update ids are the
venue's ``U`` (first), ``u`` (final) and ``pu`` (previous final) ids.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence

import msgspec

from csx_core.contracts import BookTop, ContractError
from csx_core.wire.messages import DepthSnapshotMsg, DepthUpdateMsg, Level

PriceLevels = tuple[tuple[float, float], ...]
"""``(price, qty)`` pairs in the venue's order; qty 0 means "delete this level"."""


class WireErrorKind(enum.StrEnum):
    """Why a frame was rejected; one counter per kind."""

    OVERSIZED = "oversized"
    BAD_JSON = "bad_json"
    NOT_A_FRAME = "not_a_frame"
    UNKNOWN_EVENT = "unknown_event"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"


class WireError(msgspec.Struct, frozen=True):
    """A rejected frame: returned, never raised, so the caller can count and move on."""

    kind: WireErrorKind
    detail: str


class DepthUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """One depth payload. ``stream`` is the combined-stream name (``""`` for raw frames), which
    tells diff depth (``btcusdt@depth@100ms``) from partial depth (``btcusdt@depth5``)."""

    symbol: str
    ts_event: int
    ts_recv: int
    stream: str
    first_update_id: int
    final_update_id: int
    prev_final_update_id: int | None
    bids: PriceLevels
    asks: PriceLevels


class DepthSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """REST depth snapshot; ``ts_event`` (ns) is None when the body has no ``E``."""

    last_update_id: int
    ts_event: int | None
    bids: PriceLevels
    asks: PriceLevels


class DepthTop(msgspec.Struct, frozen=True, kw_only=True):
    """Best level of a partial depth update and the top-N imbalance in [-1, 1]:
    (bid qty - ask qty) / (bid qty + ask qty) over the first ``levels`` levels per side."""

    book: BookTop
    imbalance: float
    levels: int


def parse_levels(levels: Sequence[Level]) -> PriceLevels:
    """Decimal-string levels to floats; ValueError on a non-number, non-positive price or
    negative/non-finite quantity."""
    out = []
    for p, q in levels:
        price, qty = float(p), float(q)
        if not (math.isfinite(price) and price > 0 and math.isfinite(qty) and qty >= 0):
            raise ValueError(f"bad level [{p!r}, {q!r}]")
        out.append((price, qty))
    return tuple(out)


def depth_update_from_msg(msg: DepthUpdateMsg, stream: str, ts_recv: int) -> DepthUpdate:
    if not msg.symbol:
        raise ValueError("empty symbol")
    if msg.first_update_id > msg.final_update_id:
        raise ValueError(f"U {msg.first_update_id} > u {msg.final_update_id}")
    if ts_recv < 0:
        raise ValueError(f"ts_recv must be >= 0, got {ts_recv}")
    return DepthUpdate(
        symbol=msg.symbol,
        ts_event=msg.event_time * 1_000_000,
        ts_recv=ts_recv,
        stream=stream,
        first_update_id=msg.first_update_id,
        final_update_id=msg.final_update_id,
        prev_final_update_id=msg.prev_final_update_id,
        bids=parse_levels(msg.bids),
        asks=parse_levels(msg.asks),
    )


_SNAPSHOT_DECODER = msgspec.json.Decoder(DepthSnapshotMsg)


def decode_depth_snapshot(
    body: bytes | str, *, max_bytes: int = 16 << 20
) -> DepthSnapshot | WireError:
    """Decode a REST ``/fapi/v1/depth`` body; never raises."""
    if len(body) > max_bytes:
        return WireError(WireErrorKind.OVERSIZED, f"{len(body)} bytes > {max_bytes}")
    try:
        msg = _SNAPSHOT_DECODER.decode(body)
        return DepthSnapshot(
            last_update_id=msg.last_update_id,
            ts_event=None if msg.event_time is None else msg.event_time * 1_000_000,
            bids=parse_levels(msg.bids),
            asks=parse_levels(msg.asks),
        )
    except msgspec.ValidationError as exc:
        return validation_error(exc)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        return WireError(WireErrorKind.BAD_JSON, str(exc))
    except RecursionError:
        return WireError(WireErrorKind.BAD_JSON, "nesting too deep")
    except (ValueError, OverflowError) as exc:
        return WireError(WireErrorKind.INVALID_VALUE, str(exc))


def validation_error(exc: msgspec.ValidationError) -> WireError:
    """Map msgspec's validation message to an error kind."""
    message = str(exc)
    if message.startswith("Object missing required field"):
        return WireError(WireErrorKind.MISSING_FIELD, message)
    if message.startswith("Invalid value") and (
        message.endswith("`$.e`") or message.endswith("`$.data.e`")
    ):
        return WireError(WireErrorKind.UNKNOWN_EVENT, message)
    if ", got `" in message or "` of length" in message:
        return WireError(WireErrorKind.WRONG_TYPE, message)
    return WireError(WireErrorKind.INVALID_VALUE, message)


def partial_depth_top(update: DepthUpdate, *, levels: int = 5) -> DepthTop | WireError:
    """Best bid/ask of a partial-depth update as a BookTop, plus the top-``levels``
    imbalance. Levels with qty 0 are skipped; sides are sorted by price so the venue's
    ordering does not matter. Returns a WireError for an empty side or a crossed book."""
    bids = sorted((lv for lv in update.bids if lv[1] > 0), reverse=True)[:levels]
    asks = sorted(lv for lv in update.asks if lv[1] > 0)[:levels]
    if not bids or not asks:
        return WireError(WireErrorKind.INVALID_VALUE, "partial depth has an empty side")
    try:
        book = BookTop(
            symbol=update.symbol,
            ts_event=update.ts_event,
            ts_recv=update.ts_recv,
            update_id=update.final_update_id,
            bid_price=bids[0][0],
            bid_qty=bids[0][1],
            ask_price=asks[0][0],
            ask_qty=asks[0][1],
        )
    except ContractError as exc:
        return WireError(WireErrorKind.INVALID_VALUE, str(exc))
    bid_sum = sum(q for _, q in bids)
    ask_sum = sum(q for _, q in asks)
    return DepthTop(book=book, imbalance=(bid_sum - ask_sum) / (bid_sum + ask_sum), levels=levels)
