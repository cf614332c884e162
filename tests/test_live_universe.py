"""Universe selection on the real exchangeInfo capture, override handling, the watcher."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from csx_live.universe import Universe, UniverseError, UniverseWatcher, select_universe

CAPTURE = "ws_samples/rest_fapi_v1_exchangeInfo_full_cryptofeed_2021-07.json"


@pytest.fixture
def exchange_info(realdata: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((realdata / CAPTURE).read_text())
    return data


@pytest.mark.realdata
def test_real_capture_selects_trading_usdt_perpetuals(exchange_info: dict[str, Any]) -> None:
    entries = exchange_info["symbols"]
    assert sum(e["contractType"] == "PERPETUAL" for e in entries) == 119
    universe = select_universe(exchange_info)
    by_symbol = {e["symbol"]: e for e in entries}
    assert len(universe.specs) == 117
    for spec in universe.specs:
        entry = by_symbol[spec.symbol]
        assert (entry["contractType"], entry["status"], entry["quoteAsset"]) == (
            "PERPETUAL",
            "TRADING",
            "USDT",
        )
    excluded = set(by_symbol) - set(universe.symbols)
    assert {by_symbol[s]["contractType"] for s in excluded} >= {"", "CURRENT_QUARTER"}
    assert {by_symbol[s]["quoteAsset"] for s in excluded} >= {"BUSD"}
    assert "PENDING_TRADING" in {by_symbol[s]["status"] for s in excluded}
    btc = next(s for s in universe.specs if s.symbol == "BTCUSDT")
    assert (btc.tick_size, btc.step_size, btc.min_notional) == (0.01, 0.001, 5.0)


@pytest.mark.realdata
def test_busd_quote_and_override(exchange_info: dict[str, Any]) -> None:
    assert len(select_universe(exchange_info, quote_asset="BUSD").specs) == 2
    picked = select_universe(exchange_info, override=["ethusdt", "BTCUSDT", "NOPEUSDT"])
    assert picked.symbols == ("BTCUSDT", "ETHUSDT")
    assert picked.missing == ("NOPEUSDT",)


def test_malformed_exchange_info_is_an_error() -> None:
    with pytest.raises(UniverseError):
        select_universe({"nope": []})


class FakeRest:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers

    async def get_json(self, path: str, params: dict[str, str] | None = None) -> Any:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _info(*symbols: str) -> dict[str, Any]:
    return {
        "symbols": [
            {
                "symbol": s,
                "contractType": "PERPETUAL",
                "status": "TRADING",
                "quoteAsset": "USDT",
                "baseAsset": s.removesuffix("USDT"),
                "filters": [],
            }
            for s in symbols
        ]
    }


async def test_watcher_reports_changes_only() -> None:
    seen: list[Universe] = []

    async def on_change(universe: Universe) -> None:
        seen.append(universe)

    rest = FakeRest([_info("AUSDT"), _info("AUSDT"), _info("AUSDT", "BUSDT")])
    watcher = UniverseWatcher(
        rest, quote_asset="USDT", override=(), refresh_s=60, on_change=on_change
    )
    for _ in range(3):
        await watcher.refresh()
    assert [u.symbols for u in seen] == [("AUSDT",), ("AUSDT", "BUSDT")]


@pytest.mark.realdata
def test_shards_partition_the_universe(exchange_info: dict[str, Any]) -> None:
    whole = set(select_universe(exchange_info).symbols)
    parts = [set(select_universe(exchange_info, shard=(i, 4)).symbols) for i in range(4)]
    assert set().union(*parts) == whole
    assert sum(len(p) for p in parts) == len(whole)
    assert all(parts), "CRC-32 spreads 117 symbols over every shard"
    home = next(i for i, p in enumerate(parts) if "BTCUSDT" in p)
    elsewhere = select_universe(exchange_info, override=["BTCUSDT"], shard=((home + 1) % 4, 4))
    assert elsewhere.symbols == ()
    assert elsewhere.missing == (), "a symbol of another shard is not 'missing'"
