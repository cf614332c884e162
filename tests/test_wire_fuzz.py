"""Fuzzing the decoder: random and mutated frames never raise and are always counted.

Every outcome lands in exactly one counter, so ``FrameDecoder.total`` equals the number of
frames fed; inputs that cannot be valid land in the error counter of the expected kind.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from csx_core.contracts import MarketEvent
from csx_core.wire import (
    Control,
    Decoded,
    DepthUpdate,
    FrameDecoder,
    Ignored,
    WireError,
    WireErrorKind,
    decode_depth_snapshot,
    encode_combined,
)
from tests.strategies import market_events

VALID_FRAMES = [
    b'{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1626992741575,"a":16599292,'
    b'"s":"CTKUSDT","p":"1.01100","q":"10","f":23961322,"l":23961322,"T":1626992741421,'
    b'"m":false}}',
    b'{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":5123107839020,'
    b'"s":"BTCUSDT","b":"61800.20","B":"2.507","a":"61800.30","A":"2.510","T":1723161256313,'
    b'"E":1723161256313}}',
    b'{"e":"trade","E":1723161256322,"T":1723161256322,"s":"BTCUSDT","t":5266583935,'
    b'"p":"61800.30","q":"0.006","X":"MARKET","m":false}',
    b'{"stream":"sushiusdt@depth@100ms","data":{"e":"depthUpdate","E":1626992741037,'
    b'"T":1626992741024,"s":"SUSHIUSDT","U":600859599090,"u":600859600917,'
    b'"pu":600859598061,"b":[["7.5040","813"],["7.6090","0"]],"a":[["7.6150","1563"]]}}',
    b'{"stream":"sushiusdt@kline_1m","data":{"e":"kline","E":1626992760203,"s":"SUSHIUSDT",'
    b'"k":{"t":1626992700000,"T":1626992759999,"s":"SUSHIUSDT","i":"1m","f":126902874,'
    b'"L":126902986,"o":"7.6080","c":"7.6170","h":"7.6180","l":"7.6070","v":"3005","n":113,'
    b'"x":true,"q":"22875.8590","V":"1900","Q":"14464.6960","B":"0"}}}',
    b'{"stream":"btcusdt@forceOrder","data":{"e":"forceOrder","E":1584059031426,"o":{'
    b'"s":"BTCUSDT","S":"BUY","o":"LIMIT","f":"IOC","q":"0.014","p":"4793.91",'
    b'"ap":"4706.04","X":"FILLED","l":"0.015","z":"0.014","T":1584059031421}}}',
    b'{"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","E":1597536008000,'
    b'"s":"BTCUSDT","p":"11857.56000000","i":"11851.86949091","r":"0.00015640",'
    b'"T":1597564800000}}',
    b'{"result":null,"id":1}',
]
GOOD_TYPES = (DepthUpdate, Control, Ignored, *MarketEvent.__args__)


def _check(decoder: FrameDecoder, frames: list[bytes | str]) -> list[Decoded]:
    outs = [decoder.decode(f, 1) for f in frames]
    for out in outs:
        assert isinstance(out, (WireError, *GOOD_TYPES)), out
    assert decoder.total == len(frames)
    assert decoder.total_errors == sum(isinstance(o, WireError) for o in outs)
    return outs


@settings(deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_random_bytes_never_raise(frames: list[bytes]) -> None:
    _check(FrameDecoder(), list(frames))


@settings(deadline=None)
@given(st.lists(st.text(max_size=200), max_size=20))
def test_random_text_never_raises(frames: list[str]) -> None:
    _check(FrameDecoder(), list(frames))


@st.composite
def byte_mutations(draw: st.DrawFn) -> bytes:
    frame = bytearray(draw(st.sampled_from(VALID_FRAMES)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        pos = draw(st.integers(0, max(0, len(frame) - 1)))
        if op == "flip" and frame:
            frame[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del frame[pos:]
        elif op == "insert":
            frame[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif frame:
            del frame[pos]
    return bytes(frame)


@settings(deadline=None)
@given(st.lists(byte_mutations(), max_size=10))
def test_byte_mutated_frames_never_raise(frames: list[bytes]) -> None:
    _check(FrameDecoder(), list(frames))


def test_truncations_are_counted_as_bad_json() -> None:
    decoder = FrameDecoder()
    cuts: list[bytes | str] = [f[:n] for f in VALID_FRAMES for n in range(len(f))]
    outs = _check(decoder, cuts)
    assert all(isinstance(o, WireError) for o in outs)
    assert decoder.errors[WireErrorKind.BAD_JSON] == len(cuts)


_JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.just("NaN"),
    st.just("-1"),
    st.just("1e400"),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def structural_mutations(draw: st.DrawFn) -> bytes:
    obj = json.loads(draw(st.sampled_from(VALID_FRAMES)))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(obj)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = obj
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(_JUNK)
    return json.dumps(obj).encode()


@settings(max_examples=300, deadline=None)
@given(st.lists(structural_mutations(), min_size=1, max_size=5))
def test_fields_removed_or_retyped_never_raise(frames: list[bytes]) -> None:
    _check(FrameDecoder(), list(frames))


@settings(deadline=None)
@given(st.integers(5_000, 100_000))
def test_deep_nesting_is_an_error_not_a_crash(depth: int) -> None:
    decoder = FrameDecoder(max_frame_bytes=1 << 22)
    frames: list[bytes | str] = [
        b"[" * depth + b"]" * depth,
        b'{"stream":"a","data":' + b'{"a":' * depth + b"1" + b"}" * depth + b"}",
        b'{"e":"aggTrade","E":' + b"[" * depth,
    ]
    outs = _check(decoder, frames)
    assert all(isinstance(o, WireError) for o in outs)
    assert decoder.errors[WireErrorKind.BAD_JSON] == len(frames)
    snapshot = b'{"lastUpdateId":1,"asks":[],"bids":' + b"[" * depth + b"]" * depth + b"}"
    assert isinstance(decode_depth_snapshot(snapshot, max_bytes=1 << 22), WireError)


@settings(deadline=None)
@given(st.integers(0, 5000))
def test_huge_numbers_are_rejected(digits: int) -> None:
    big = b"9" * (digits + 400)  # beyond float range and int64
    decoder = FrameDecoder()
    frames: list[bytes | str] = [
        VALID_FRAMES[0].replace(b'"p":"1.01100"', b'"p":"' + big + b'"'),
        VALID_FRAMES[0].replace(b'"a":16599292', b'"a":' + big),
        VALID_FRAMES[0].replace(b'"E":1626992741575', b'"E":' + big + b".5e99999"),
    ]
    outs = _check(decoder, frames)
    assert all(isinstance(o, WireError) for o in outs)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


@settings(deadline=None)
@given(st.binary(min_size=1, max_size=64).filter(lambda b: not _is_utf8(b)))
def test_invalid_utf8_is_bad_json(junk: bytes) -> None:
    clean = junk.replace(b'"', b"").replace(b"\\", b"")
    frame = VALID_FRAMES[1].replace(b"BTCUSDT", clean)
    decoder = FrameDecoder()
    out = decoder.decode(frame, 1)
    assert isinstance(out, WireError)
    if not _is_utf8(clean) and all(c >= 0x20 for c in clean):
        assert out.kind is WireErrorKind.BAD_JSON, out


@settings(deadline=None)
@given(market_events)
def test_valid_events_decode_without_error(event: MarketEvent) -> None:
    decoder = FrameDecoder()
    out = decoder.decode(encode_combined(event), 0)
    assert not isinstance(out, WireError), out
    assert decoder.total_errors == 0


@settings(deadline=None)
@given(st.binary(max_size=200) | st.builds(lambda n: b'{"lastUpdateId":' + n, st.binary()))
def test_depth_snapshot_never_raises(body: bytes) -> None:
    assert isinstance(decode_depth_snapshot(body), (WireError, msgspec.Struct))
