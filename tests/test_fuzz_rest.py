"""Fuzz the REST side: mutated exchangeInfo / depth / klines / ticker / error bodies, odd
status codes and header values, through the real ``RestClient`` (on a hand-written session),
the ``UniverseWatcher`` and ``decode_depth_snapshot``: no exception other than the documented
typed errors escapes, and every input is counted exactly once.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csx_core.resilience.governor import RestGovernor
from csx_core.wire import DepthSnapshot, WireError, decode_depth_snapshot
from csx_live.exchange.market import SymbolSpec
from csx_live.exchange.symbols import exchange_info
from csx_live.rest import RestClient, RestError
from csx_live.universe import Universe, UniverseError, UniverseWatcher
from tests.test_fuzz_wire import MAX_FRAME, Mutator

SEED = 424242
N_BODIES = 20_000
PATHS = {
    "exchange_info": "/fapi/v1/exchangeInfo",
    "depth": "/fapi/v1/depth",
    "klines": "/fapi/v1/klines",
    "ticker": "/fapi/v1/ticker/24hr",
    "error": "/fapi/v1/depth",
}
HEADER_VALUES = ("12", "0", "-5", "abc", "", "nan", "inf", "-inf", "1e400", "9" * 30, "3.5")
STATUSES = (200, 200, 200, 200, 400, 404, 429, 418, 500, 502, 503)


def rest_samples() -> dict[str, bytes]:
    specs = {
        s.symbol: s for s in (SymbolSpec("BTCUSDT", 0.1, 0.001), SymbolSpec("ETHUSDT", 0.01, 0.001))
    }
    info = exchange_info(specs, server_time_ms=1_767_225_600_000, weight_limit=2400)
    depth = {
        "lastUpdateId": 1027024,
        "E": 1767225600123,
        "T": 1767225600120,
        "bids": [["87000.10", "1.500"], ["86999.90", "0.200"]],
        "asks": [["87000.20", "0.700"], ["87000.50", "3.000"]],
    }
    kline = [1767225600000, "87000.1", "87010.0", "86990.0", "87005.5", "12.345",
             1767225659999, "1074000.12", 321, "6.1", "530000.1", "0"]  # fmt: skip
    ticker = {"symbol": "BTCUSDT", "priceChange": "-94.99", "priceChangePercent": "-0.11",
              "weightedAvgPrice": "87001.2", "lastPrice": "87005.5", "lastQty": "0.010",
              "openPrice": "87100.5", "highPrice": "87500", "lowPrice": "86500",
              "volume": "12345.678", "quoteVolume": "1074000000.1", "openTime": 1767139200000,
              "closeTime": 1767225599999, "firstId": 1, "lastId": 5000, "count": 5000}  # fmt: skip
    return {
        "exchange_info": json.dumps(info).encode(),
        "depth": json.dumps(depth).encode(),
        "klines": json.dumps([kline, kline]).encode(),
        "ticker": json.dumps(ticker).encode(),
        "error": b'{"code":-1121,"msg":"Invalid symbol."}',
    }


@dataclass
class Canned:
    status: int
    body: bytes
    headers: dict[str, str]
    failure: BaseException | None = None


@dataclass
class FakeResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    failure: BaseException | None

    async def read(self) -> bytes:
        if self.failure is not None:
            raise self.failure
        return self.body


@dataclass
class FakeSession:
    """Answers every GET with the next canned response (``aiohttp.ClientSession`` shape)."""

    answers: list[Canned] = field(default_factory=list)

    @asynccontextmanager
    async def _get(self) -> Any:
        canned = self.answers.pop()
        yield FakeResponse(canned.status, canned.headers, canned.body, canned.failure)

    def get(self, url: str, *, params: Any = None, timeout: Any = None) -> Any:
        return self._get()


class AlwaysClosed:
    """A breaker that lets everything through (the breaker has its own tests)."""

    def allow(self, now_s: float) -> bool:
        return True

    def record_success(self, now_s: float) -> None: ...

    def record_failure(self, now_s: float) -> None: ...

    def release(self) -> None: ...


def leaping_clock() -> Iterator[int]:
    """Each read is a new one-minute weight window, so the governor never makes us wait."""
    t = 1_767_225_600_000_000_000
    while True:
        t += 61_000_000_000
        yield t


def make_client(session: FakeSession) -> RestClient:
    clock = leaping_clock()
    return RestClient(
        session,  # type: ignore[arg-type]
        "http://127.0.0.1:1",
        governor=RestGovernor(),
        breaker=AlwaysClosed(),
        now_ns=lambda: next(clock),
    )


def canned(rng: random.Random, kind: str, body: bytes) -> Canned:
    status = 400 if kind == "error" and rng.random() < 0.5 else rng.choice(STATUSES)
    headers = {}
    if rng.random() < 0.7:
        headers["X-MBX-USED-WEIGHT-1M"] = rng.choice(HEADER_VALUES)
    if status in (429, 418) or rng.random() < 0.1:
        headers["Retry-After"] = rng.choice(HEADER_VALUES)
    failure: BaseException | None = None
    r = rng.random()
    if r < 0.01:
        failure = TimeoutError()
    elif r < 0.02:
        failure = aiohttp.ClientPayloadError("connection reset mid-body")
    return Canned(status, body, headers, failure)


async def fetch(kind: str, answer: Canned) -> str:
    """One request through the client (and the universe watcher for exchangeInfo); the
    outcome's name. Any exception other than the typed ones propagates: a crash."""
    client = make_client(FakeSession([answer]))
    try:
        if kind == "exchange_info":
            watcher = UniverseWatcher(client, quote_asset="USDT", override=(), refresh_s=60)
            universe = await watcher.refresh()
            assert isinstance(universe, Universe)
            return "universe"
        params = {"symbol": "BTCUSDT", "limit": "100"}
        await client.get_json(PATHS[kind], params)
        return "ok"
    except RestError as exc:
        return type(exc).__name__
    except UniverseError:
        return "UniverseError"


def test_fuzz_rest_bodies_through_client_universe_and_depth_decoder() -> None:
    samples = rest_samples()
    kinds = sorted(samples)
    mutator = Mutator(SEED, [samples[k] for k in kinds])
    rng = random.Random(SEED + 1)
    outcomes: Counter[str] = Counter()
    depth_outcomes: Counter[str] = Counter()
    crashes: list[str] = []
    crash_kinds: Counter[str] = Counter()

    async def run_all() -> None:
        for _ in range(N_BODIES):
            body, label, must_fail = mutator.mutate()
            kind = kinds[mutator.last_index]
            answer = canned(rng, kind, body)
            try:
                outcomes[await fetch(kind, answer)] += 1
            except Exception as exc:
                crashes.append(f"{kind}/{label}/{answer.status}/{answer.headers}: {exc!r}")
                crash_kinds[f"{type(exc).__name__} status={answer.status}"] += 1
                outcomes["crash"] += 1
            depth = decode_depth_snapshot(body, max_bytes=MAX_FRAME)
            depth_outcomes[type(depth).__name__] += 1
            assert isinstance(depth, DepthSnapshot | WireError)
            if must_fail:
                assert isinstance(depth, WireError), (label, body[:200])

    started = time.perf_counter()
    asyncio.run(run_all())
    elapsed = time.perf_counter() - started
    print(
        f"fuzzed {N_BODIES} REST answers in {elapsed:.1f} s: {dict(outcomes)}; "
        f"depth {dict(depth_outcomes)}"
    )
    assert not crashes, f"{len(crashes)} crashes {dict(crash_kinds)}, first: {crashes[:5]}"
    assert sum(outcomes.values()) == N_BODIES
    assert sum(depth_outcomes.values()) == N_BODIES
    assert outcomes["universe"] > 0
    assert outcomes["ok"] > 0
    assert depth_outcomes["DepthSnapshot"] > 0
    assert depth_outcomes["WireError"] > 0


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(rest_samples())), st.binary(max_size=64), st.integers(min_value=0))
def test_truncated_or_spliced_rest_bodies_never_crash(kind: str, junk: bytes, at: int) -> None:
    sample = rest_samples()[kind]
    at %= len(sample)
    body = sample[:at] + junk
    assert isinstance(decode_depth_snapshot(body), DepthSnapshot | WireError)
    outcome = asyncio.run(fetch(kind, Canned(200, body, {})))
    assert outcome in {"universe", "ok", "RestBadBodyError", "UniverseError"}


@pytest.mark.parametrize("value", ["nan", "inf", "1e400", "-1", "7"])
def test_retry_after_header_garbage_on_429_is_a_typed_error(value: str) -> None:
    outcome = asyncio.run(fetch("depth", Canned(429, b"{}", {"Retry-After": value})))
    assert outcome == "RestRateLimitedError"
