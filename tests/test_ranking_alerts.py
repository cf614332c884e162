"""Alerter: threshold, dedupe (re-arm), cooldown, determinism; time is passed in."""

from __future__ import annotations

import numpy as np
import pytest

from csx_core.contracts import Direction, ReasonCode
from csx_core.ranking.alerts import AlertConfig, Alerter

S = 1_000_000_000


def feed(alerter: Alerter, series: list[float], step_s: int = 1) -> list[int]:
    fired = []
    for i, p in enumerate(series):
        if alerter.update(i * step_s * S, ["AUSDT"], np.array([p])):
            fired.append(i)
    return fired


def test_alerts_once_per_episode_while_above_threshold() -> None:
    alerter = Alerter(AlertConfig(threshold=0.6, rearm_gap=0.05, cooldown_s=0))
    assert feed(alerter, [0.5, 0.7, 0.8, 0.62, 0.58, 0.7, 0.5, 0.7]) == [1, 7]


def test_cooldown_blocks_a_rearmed_symbol_until_it_expires() -> None:
    alerter = Alerter(AlertConfig(threshold=0.6, cooldown_s=10))
    series = [0.7, 0.1, 0.7, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.7]
    assert feed(alerter, series) == [0, 11]


def test_duplicate_symbols_in_a_batch_alert_once_with_the_best_p() -> None:
    alerter = Alerter(AlertConfig(threshold=0.5))
    alerts = alerter.update(
        0,
        ["AUSDT", "BUSDT", "AUSDT"],
        np.array([0.6, 0.9, 0.8]),
        directions={"BUSDT": Direction.UP},
        reasons={"BUSDT": (ReasonCode.VOLUME_SURGE,)},
    )
    assert [(a.symbol, a.p_inplay) for a in alerts] == [("BUSDT", 0.9), ("AUSDT", 0.8)]
    assert alerts[0].direction is Direction.UP
    assert alerts[0].reason_codes == (ReasonCode.VOLUME_SURGE,)
    assert alerts[1].direction is Direction.FLAT


def test_same_inputs_give_the_same_alerts() -> None:
    rng = np.random.default_rng(3)
    syms = [f"S{i}USDT" for i in range(20)]
    ticks = [rng.random(20) for _ in range(100)]

    def run() -> list[tuple[int, str, float]]:
        alerter = Alerter(AlertConfig(threshold=0.8, cooldown_s=5))
        out = []
        for t, p in enumerate(ticks):
            out += [(a.ts, a.symbol, a.p_inplay) for a in alerter.update(t * S, syms, p)]
        return out

    first = run()
    assert first == run()
    assert len(first) > 10


def test_nan_probabilities_never_alert() -> None:
    alerter = Alerter(AlertConfig(threshold=0.5))
    assert alerter.update(0, ["AUSDT"], np.array([np.nan])) == []


@pytest.mark.parametrize("kwargs", [{"threshold": 0.0}, {"cooldown_s": -1.0}])
def test_invalid_alert_config_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        AlertConfig(**kwargs)
