"""The WebSocket control protocol (SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY,
GET_PROPERTY) as a pure function of a connection's subscriptions.

Answers mirror Binance: ``{"result":null,"id":1}``, ``{"result":[…],"id":3}`` and errors as
``{"error":{"code":N,"msg":"…"},"id":…}`` with 0 unknown property, 1 invalid value type,
2 invalid request, 3 invalid JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_STREAM = re.compile(
    r"(?:[a-z0-9_]+@(?:aggTrade|trade|bookTicker|forceOrder|miniTicker|ticker|markPrice(?:@1s)?"
    r"|kline_(?:1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1M)"
    r"|depth(?:5|10|20)?(?:@100ms|@250ms|@500ms|@0ms)?)"
    r"|!(?:bookTicker|forceOrder@arr|miniTicker@arr|ticker@arr|markPrice@arr(?:@1s)?))"
)


def normalise_stream(stream: str) -> str | None:
    """The canonical name (lowercase symbol) of a valid stream, else None."""
    symbol, at, channel = stream.partition("@")
    name = stream if stream.startswith("!") else f"{symbol.lower()}{at}{channel}"
    return name if _STREAM.fullmatch(name) else None


class Subscriber(Protocol):
    """What the protocol needs from a connection."""

    combined: bool

    def stream_list(self) -> list[str]: ...

    def add_streams(self, streams: list[str]) -> None: ...

    def remove_streams(self, streams: list[str]) -> None: ...


@dataclass
class ControlResult:
    reply: dict[str, Any]
    error: bool = False
    changed: list[str] = field(default_factory=list)


def _err(code: int, msg: str, req_id: Any) -> ControlResult:
    return ControlResult({"error": {"code": code, "msg": msg}, "id": req_id}, error=True)


def handle_control(conn: Subscriber, text: str | bytes, *, max_streams: int) -> ControlResult:
    """Apply one control message to ``conn`` and return the reply to send."""
    try:
        msg = json.loads(text)
    except ValueError as exc:
        return _err(3, f"Invalid JSON: {exc}", None)
    if not isinstance(msg, dict):
        return _err(2, "Invalid request: expected a JSON object", None)
    req_id = msg.get("id")
    if "method" not in msg:
        return _err(2, "Invalid request: missing field `method`", req_id)
    if not isinstance(req_id, int) or isinstance(req_id, bool) or req_id < 0:
        return _err(2, "Invalid request: request ID must be an unsigned integer", None)
    method = msg["method"]
    if method not in _METHODS:
        return _err(2, f"Invalid request: unknown variant `{method}`, expected one of "
                       + ", ".join(f"`{m}`" for m in _METHODS), req_id)  # fmt: skip
    params = msg.get("params", [])
    if not isinstance(params, list):
        return _err(2, "Invalid request: params must be an array", req_id)
    if method == "LIST_SUBSCRIPTIONS":
        return ControlResult({"result": conn.stream_list(), "id": req_id})
    if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
        names = [normalise_stream(p) if isinstance(p, str) else None for p in params]
        if any(n is None for n in names):
            return _err(2, "Invalid request: invalid stream", req_id)
        streams = [n for n in names if n is not None]
        if method == "SUBSCRIBE":
            new = [s for s in dict.fromkeys(streams) if s not in set(conn.stream_list())]
            if len(conn.stream_list()) + len(new) > max_streams:
                return _err(2, f"Invalid request: too many streams (limit {max_streams})", req_id)
            conn.add_streams(new)
            return ControlResult({"result": None, "id": req_id}, changed=new)
        conn.remove_streams(streams)
        return ControlResult({"result": None, "id": req_id}, changed=streams)
    if not params or not isinstance(params[0], str):
        return _err(2, "Invalid request: property name must be a string", req_id)
    if params[0] != "combined":
        return _err(0, "Unknown property", req_id)
    if method == "GET_PROPERTY":
        if len(params) != 1:
            return _err(2, "Invalid request: too many parameters", req_id)
        return ControlResult({"result": conn.combined, "id": req_id})
    if len(params) != 2:
        return _err(2, "Invalid request: too many parameters" if len(params) > 2
                    else "Invalid request: missing property value", req_id)  # fmt: skip
    if not isinstance(params[1], bool):
        return _err(1, "Invalid value type: expected Boolean", req_id)
    conn.combined = params[1]
    return ControlResult({"result": None, "id": req_id})
