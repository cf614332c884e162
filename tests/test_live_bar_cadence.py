"""A model trained on bars is served at its own cadence, and only there (issue 17 item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest

from csx_core.features import FEATURE_NAMES, EngineConfig, FeatureEngine
from csx_core.ml.package import PackagedScorer, load_package
from csx_core.ml.synthetic import noise_package
from csx_core.ranking.alerts import AlertConfig, Alerter
from csx_core.ranking.ranker import Ranker, RankerConfig
from csx_core.ranking.tick import TickPipeline
from csx_live.app import require_engine
from csx_live.config import ConfigError, LiveSettings
from csx_live.model import ModelUnavailableError
from csx_live.queue import DropOldestQueue
from csx_live.runner import Runner, RunnerConfig
from csx_live.state import LiveState
from tests.test_features import T0, S
from tests.test_features_bar_cadence import HOUR, hourly_bars

HOURLY = EngineConfig.for_cadence(HOUR)


@pytest.fixture(scope="module")
def hourly_package(tmp_path_factory: pytest.TempPathFactory) -> PackagedScorer:
    out = tmp_path_factory.mktemp("bars") / "package"
    training = {
        "data_digest": "bars",
        "engine": {
            "cadence_s": HOUR,
            "gap_after_s": HOURLY.gap_after_s,
            "stale_after_s": HOURLY.stale_after_s,
            "benchmark_symbol": HOURLY.benchmark_symbol,
            "beta_minutes": HOURLY.beta_minutes,
            "min_beta_points": HOURLY.min_beta_points,
        },
        "labels": {"horizon_s": 4 * HOUR, "tick_s": HOUR, "assumed_spread_bps": 3.0},
    }
    return load_package(noise_package(out, seed=4, training=training))


def test_live_settings_take_bar_cadences_and_name_the_field_otherwise() -> None:
    assert LiveSettings(cadence_s=HOUR).cadence_s == HOUR
    with pytest.raises(ConfigError, match="cadence_s"):
        LiveSettings(cadence_s=2 * HOUR)
    with pytest.raises(ConfigError, match="cadence_s"):
        LiveSettings(cadence_s=90)


def test_a_package_is_served_only_with_the_engine_it_was_trained_on(
    hourly_package: PackagedScorer,
) -> None:
    assert hourly_package.engine_config == HOURLY
    assert hourly_package.label_config.assumed_spread_bps == 3.0
    require_engine(hourly_package, EngineConfig.for_cadence(HOUR))
    with pytest.raises(ModelUnavailableError, match="--cadence-s 3600"):
        require_engine(hourly_package, EngineConfig.for_cadence(1))


def test_the_runner_ticks_and_ranks_hourly_bars_at_the_package_cadence(
    tmp_path: Path, hourly_package: PackagedScorer
) -> None:
    state = LiveState(connected=lambda: True)
    state.min_warm_share = 0.0
    pipeline = TickPipeline(
        hourly_package, Ranker(RankerConfig(k=2)), Alerter(AlertConfig(threshold=0.99))
    )
    runner = Runner(
        state=state,
        queue=DropOldestQueue(10_000),
        decode=lambda frame, recv_ns: [],
        engine=FeatureEngine(HOURLY),
        pipeline=pipeline,
        config=RunnerConfig(cadence_s=HOUR, top_k=2, tick_fallback_s=HOUR),
    )
    start = (T0 // HOUR + 1) * HOUR
    events = []
    for k, symbol in enumerate(("AAAUSDT", "BBBUSDT", "CCCUSDT")):
        closes = [100.0 + k + 0.3 * h * (-1) ** h for h in range(8)]
        events += hourly_bars(symbol, closes, start)
    events.sort(key=lambda e: e.ts_event)
    runner.process(events)
    assert state.counters.ticks == 7  # one per bar boundary after the first bar
    assert state.last_tick_ns == (start + 7 * HOUR) * S
    assert state.warm_symbols == 3
    assert [r["rank"] for r in state.ranks] == [1, 2]
    assert all(0.0 <= r["p_inplay"] <= 1.0 for r in state.ranks)
    view = runner.symbol_view("AAAUSDT")
    assert view is not None
    assert set(view["features"]) == set(FEATURE_NAMES)
