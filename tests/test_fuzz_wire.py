"""Fuzz the WS frame decoder: >= 100 k random and mutated frames, zero exceptions, every
frame counted, every frame that cannot be valid counted as an error.

Inputs start from real wire-format frames (simulator events through the encoder, plus depth,
control and ticker frames) and are mutated: truncated, bytes flipped or inserted (invalid
UTF-8), values swapped for wrong types / huge numbers / NaN / negatives, keys dropped or
added, deep nesting, oversized frames and plain random bytes. ``Mutator`` is reused by
``test_fuzz_rest``.
"""

from __future__ import annotations

import functools
import json
import math
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csx_core.contracts import EVENT_TYPES
from csx_core.sim import SimConfig, simulate_day
from csx_core.store.store import EVENT_KINDS
from csx_core.wire import (
    FrameDecoder,
    WireError,
    decode_frame,
    encode_combined,
    encode_payload,
)

SEED = 20261124
N_FRAMES = 100_000
MAX_FRAME = 64 * 1024
INT64_MAX = 2**63 - 1


class Raw(str):
    """A JSON token written verbatim (huge numbers, NaN, broken literals)."""


def dumps(value: Any) -> str:
    """JSON text that may contain ``Raw`` tokens."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


WEIRD_VALUES: tuple[Any, ...] = (
    None,
    True,
    [],
    {},
    "",
    "abc",
    "-1",
    "0",
    "1e400",
    "NaN",
    "Infinity",
    -1,
    0,
    1.5,
    2**64,
    -(2**63) - 1,
    Raw("1" + "0" * 400),
    Raw("-" + "9" * 40),
    Raw("1e999"),
    Raw("NaN"),
    Raw("Infinity"),
    Raw("0.0000000000000000000000000001"),
    [["1", "2"]],
    {"nested": [1, {"x": None}]},
    "\u0000",
    "\ud7ff\ue000",
)


class Mutator:
    """Seeded generator of bad variants of valid JSON samples. Each ``mutate`` returns
    ``(frame, label, must_fail)``: ``must_fail`` is true when no valid frame can result."""

    def __init__(self, seed: int, samples: list[bytes], *, max_frame: int = MAX_FRAME) -> None:
        self.rng = random.Random(seed)
        self.samples = samples
        self.parsed = [json.loads(s) for s in samples]
        self.max_frame = max_frame
        self.last_index = 0
        """Sample the last ``mutate`` started from (``splice`` mixes in a second one)."""
        self.ops: list[tuple[str, Callable[[int], tuple[bytes, bool]]]] = [
            ("valid", self.valid),
            ("truncate", self.truncate),
            ("flip_bytes", self.flip_bytes),
            ("invalid_utf8", self.invalid_utf8),
            ("wrong_value", self.wrong_value),
            ("drop_key", self.drop_key),
            ("extra_keys", self.extra_keys),
            ("deep_nesting", self.deep_nesting),
            ("random_bytes", self.random_bytes),
            ("random_json", self.random_json),
            ("oversized", self.oversized),
            ("splice", self.splice),
        ]

    def mutate(self) -> tuple[bytes, str, bool]:
        r = self.rng.random()
        # oversized frames are expensive to build: keep them rare
        if r < 0.002:
            label, op = "oversized", self.oversized
        else:
            label, op = self.ops[self.rng.randrange(len(self.ops) - 2)]
            if self.rng.random() < 0.05:
                label, op = "splice", self.splice
        self.last_index = self.rng.randrange(len(self.samples))
        frame, must_fail = op(self.last_index)
        return frame, label, must_fail

    def valid(self, i: int) -> tuple[bytes, bool]:
        return self.samples[i], False

    def truncate(self, i: int) -> tuple[bytes, bool]:
        s = self.samples[i]
        return s[: self.rng.randrange(len(s))], True  # a proper prefix of an object

    def flip_bytes(self, i: int) -> tuple[bytes, bool]:
        b = bytearray(self.samples[i])
        for _ in range(self.rng.randint(1, 4)):
            b[self.rng.randrange(len(b))] = self.rng.randrange(256)
        return bytes(b), False

    def invalid_utf8(self, i: int) -> tuple[bytes, bool]:
        b = bytearray(self.samples[i])
        bad = self.rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"])
        at = self.rng.randrange(1, len(b))
        # msgspec skips unknown keys without validating them, so bad bytes inside an ignored
        # field leave a frame whose every used field is intact: not necessarily rejected.
        return bytes(b[:at] + bad + b[at:]), False

    def _walk(self, obj: Any) -> list[tuple[Any, Any]]:
        """(container, key) of every value inside ``obj``."""
        out: list[tuple[Any, Any]] = []
        stack = [obj]
        while stack:
            node = stack.pop()
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for k, v in items:
                out.append((node, k))
                if isinstance(v, dict | list):
                    stack.append(v)
        return out

    def _copy(self, i: int) -> Any:
        return json.loads(self.samples[i])

    def wrong_value(self, i: int) -> tuple[bytes, bool]:
        obj = self._copy(i)
        slots = self._walk(obj)
        for _ in range(self.rng.randint(1, 3)):
            node, key = self.rng.choice(slots)
            node[key] = self.rng.choice(WEIRD_VALUES)
        return dumps(obj).encode("utf-8", "surrogatepass"), False

    def drop_key(self, i: int) -> tuple[bytes, bool]:
        obj = self._copy(i)
        slots = [(n, k) for n, k in self._walk(obj) if isinstance(n, dict)]
        if slots:
            node, key = self.rng.choice(slots)
            del node[key]
        return dumps(obj).encode(), False

    def extra_keys(self, i: int) -> tuple[bytes, bool]:
        obj = self._copy(i)
        target = obj.get("data", obj) if isinstance(obj, dict) else obj
        if isinstance(target, dict):
            for _ in range(self.rng.randint(1, 3)):
                target[self.rng.choice(["nq", "zz", "E2", "x", "Q"])] = self.rng.choice(
                    WEIRD_VALUES
                )
            items = list(target.items())
            self.rng.shuffle(items)
            target.clear()
            target.update(items)
        return dumps(obj).encode("utf-8", "surrogatepass"), False

    def deep_nesting(self, i: int) -> tuple[bytes, bool]:
        depth = self.rng.choice([50, 500, 5_000, 20_000])
        opener, closer = self.rng.choice([("[", "]"), ('{"a":', "}")])
        inner = opener * depth + "1" + closer * depth
        if self.rng.random() < 0.5:
            return b'{"stream":"btcusdt@aggTrade","data":' + inner.encode() + b"}", True
        return inner.encode(), True

    def random_bytes(self, i: int) -> tuple[bytes, bool]:
        n = self.rng.randint(0, 300)
        return self.rng.randbytes(n), False

    def random_json(self, i: int) -> tuple[bytes, bool]:
        def gen(depth: int) -> Any:
            r = self.rng.random()
            if depth > 3 or r < 0.4:
                return self.rng.choice(WEIRD_VALUES)
            if r < 0.7:
                return [gen(depth + 1) for _ in range(self.rng.randint(0, 4))]
            keys = ["e", "E", "s", "p", "q", "a", "b", "stream", "data", "k", "o", "T"]
            return {self.rng.choice(keys): gen(depth + 1) for _ in range(self.rng.randint(0, 6))}

        return dumps(gen(0)).encode("utf-8", "surrogatepass"), False

    def oversized(self, i: int) -> tuple[bytes, bool]:
        obj = self._copy(i)
        pad = "x" * (self.max_frame + self.rng.randint(1, 4096))
        if isinstance(obj, dict):
            obj["pad"] = pad
            return dumps(obj).encode(), True
        return pad.encode(), True

    def splice(self, i: int) -> tuple[bytes, bool]:
        a = self.samples[i]
        b = self.rng.choice(self.samples)
        return a[: self.rng.randrange(len(a))] + b[self.rng.randrange(len(b)) :], False


@functools.cache
def wire_samples() -> list[bytes]:
    """Valid frames of every kind the decoder handles, combined and raw."""
    config = SimConfig(seed=3, start=date(2026, 1, 1), days=1, n_symbols=3)
    tables = simulate_day(config, 0)
    frames: list[bytes] = []
    for kind, table in tables.items():
        for event in EVENT_KINDS[kind].from_arrow(table.slice(0, 40)):
            frames += [encode_combined(event), encode_payload(event)]
    frames += [
        b'{"stream":"btcusdt@depth5@100ms","data":{"e":"depthUpdate","E":1767225600123,'
        b'"T":1767225600120,"s":"BTCUSDT","U":100,"u":120,"pu":99,'
        b'"b":[["87000.10","1.5"],["86999.90","0.2"]],"a":[["87000.20","0.7"]]}}',
        b'{"result":null,"id":1}',
        b'{"code":2,"msg":"Invalid request: unknown variable"}',
        b'{"stream":"btcusdt@ticker","data":{"e":"24hrTicker","E":1767225600000,"s":"BTCUSDT",'
        b'"p":"1.0","P":"0.1","w":"87000","c":"87000.1","Q":"0.1","o":"86999","h":"87100",'
        b'"l":"86900","v":"100","q":"8700000","O":1767139200000,"C":1767225600000,'
        b'"F":1,"L":100,"n":100}}',
    ]
    return frames


def check_decoded(out: object) -> None:
    """A decoded market event must be storable: int64 times, finite positive numbers."""
    if type(out) in EVENT_TYPES:
        for name in ("ts_event", "ts_recv"):
            assert 0 <= getattr(out, name) <= INT64_MAX, (name, out)
        for name in ("price", "qty", "bid_price", "ask_price", "mark_price"):
            value = getattr(out, name, None)
            if isinstance(value, float):
                assert math.isfinite(value), (name, out)


def test_fuzz_frame_decoder_never_raises_and_counts_everything() -> None:
    mutator = Mutator(SEED, wire_samples())
    decoder = FrameDecoder(max_frame_bytes=MAX_FRAME)
    labels: Counter[str] = Counter()
    errors_seen = 0
    accepted: Counter[str] = Counter()
    started = time.perf_counter()
    for n in range(N_FRAMES):
        frame, label, must_fail = mutator.mutate()
        labels[label] += 1
        try:
            out = decoder.decode(frame, 1_767_225_600_000_000_000 + n)
        except Exception as exc:  # the property under test: nothing escapes
            pytest.fail(f"decoder raised {exc!r} on a {label} frame {frame[:200]!r}")
        if type(out) is WireError:
            errors_seen += 1
        else:
            assert not must_fail, f"{label} frame accepted: {frame[:200]!r} -> {out!r}"
            accepted[label] += 1
            check_decoded(out)
    elapsed = time.perf_counter() - started
    assert decoder.total == N_FRAMES
    assert decoder.total_errors == errors_seen
    assert sum(decoder.decoded.values()) == N_FRAMES - errors_seen
    assert labels["valid"] > 5_000
    assert all(labels[name] > 0 for name, _ in mutator.ops)
    assert 0 < errors_seen < N_FRAMES
    print(f"fuzzed {N_FRAMES} frames in {elapsed:.1f} s; {errors_seen} rejected")
    print(f"generated {dict(labels)}\naccepted {dict(accepted)}")


def test_oversized_frame_at_the_default_limit_is_counted_not_raised() -> None:
    decoder = FrameDecoder()
    frame = b'{"stream":"btcusdt@aggTrade","data":{"pad":"' + b"x" * (11 << 20) + b'"}}'
    out = decoder.decode(frame, 0)
    assert type(out) is WireError
    assert decoder.total_errors == 1


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(wire_samples()),
    st.integers(min_value=0),
    st.sampled_from(["truncate", "insert", "replace_data"]),
    st.binary(max_size=16),
    _json_values,
)
def test_mutated_frames_never_raise(
    sample: bytes, at: int, how: str, junk: bytes, value: Any
) -> None:
    at %= len(sample)
    if how == "truncate":
        frame = sample[:at]
    elif how == "insert":
        frame = sample[:at] + junk + sample[at:]
    else:
        obj = json.loads(sample)
        if "data" in obj:
            obj["data"] = value
        else:
            obj[next(iter(obj))] = value
        frame = json.dumps(obj).encode()
    out = decode_frame(frame, 0)
    if how == "truncate":
        assert type(out) is WireError
    else:
        check_decoded(out)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_raise(frame: bytes) -> None:
    check_decoded(decode_frame(frame, 0))


def test_fuzz_the_live_runners_decoder_adapter() -> None:
    """``csx live``'s decode step: events, nothing, or ``MalformedFrameError`` — and the
    ``FrameDecoder`` behind it stays in step with what the adapter reported."""
    from csx_live.app import MalformedFrameError, default_decoder

    decode = default_decoder()
    mutator = Mutator(SEED + 7, wire_samples())
    outcomes: Counter[str] = Counter()
    for n in range(20_000):
        frame, label, must_fail = mutator.mutate()
        try:
            events = decode(frame, n)
        except MalformedFrameError:
            outcomes["malformed"] += 1
            continue
        # the runner's limit is the decoder default (MiBs), above this fuzz's oversized frames
        assert not must_fail or label == "oversized", (label, frame[:200])
        assert all(type(e) in EVENT_TYPES for e in events)
        outcomes["events" if events else "ignored"] += 1
    assert sum(outcomes.values()) == 20_000
    assert min(outcomes["malformed"], outcomes["events"], outcomes["ignored"]) > 0
