"""Live outcome resolution and the shadow challenger in the runner (``csx_live.outcomes_wiring``):
a runner scoring a small simulated stream with a real LightGBM package resolves every
prediction at t+H per role, the challenger is scored on the same ticks but never ranked or
alerted, and the per-role metrics reach /metrics with only the ``role`` label."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from csx_core.contracts import MarketEvent
from csx_core.features import EngineConfig, FeatureEngine
from csx_core.ml.package import PackagedScorer, load_package
from csx_core.ml.synthetic import noise_package
from csx_core.outcomes import CHALLENGER, CHAMPION
from csx_core.ranking.alerts import AlertConfig, Alerter
from csx_core.ranking.ranker import Ranker, RankerConfig
from csx_core.ranking.tick import TickPipeline
from csx_live.metrics import LiveMetrics, MetricSources
from csx_live.outcomes_wiring import LiveOutcomes, labels_of
from csx_live.queue import DropOldestQueue
from csx_live.runner import Runner, RunnerConfig, TickReport
from csx_live.state import LiveState
from tests.test_metrics_labels import SYMBOLS, label_violations, market_events


def tiny_package(out: Path, *, seed: int, horizon_s: int, rows: int = 400) -> Path:
    """A real (small) LightGBM package on the engine's features, with its label definition."""
    return noise_package(
        out,
        seed=seed,
        rows=rows,
        threshold=0.5,
        rounds=10,
        direction_rounds=5,
        training={
            "data_digest": f"digest-{seed}",
            "labels": {"horizon_s": horizon_s, "threshold_bps": 1.0},
        },
    )


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PackagedScorer]:
    root = tmp_path_factory.mktemp("outcome-models")
    return {
        "champion": load_package(tiny_package(root / "champ", seed=1, horizon_s=5)),
        "same_label": load_package(tiny_package(root / "chal", seed=2, horizon_s=5)),
        "other_label": load_package(tiny_package(root / "chal3", seed=3, horizon_s=3)),
    }


class Wall:
    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        return self.ns


def scoring_runner(champion: PackagedScorer) -> tuple[Runner, LiveState]:
    state = LiveState(connected=lambda: True)
    pipeline = TickPipeline(
        champion, Ranker(RankerConfig(k=2)), Alerter(AlertConfig(threshold=0.01, cooldown_s=1))
    )
    runner = Runner(
        state=state,
        queue=DropOldestQueue(1000),
        decode=lambda _frame, _ns: (),
        engine=FeatureEngine(EngineConfig()),
        pipeline=pipeline,
        cost=champion.cost,
        config=RunnerConfig(top_k=2, merge_idle_s=None),
        wall_ns=Wall(),
    )
    return runner, state


def wire(runner: Runner, champion: PackagedScorer) -> tuple[LiveOutcomes, list[TickReport]]:
    outcomes = LiveOutcomes(window_s=600, top_k=2)
    labels = labels_of(champion)
    assert labels is not None
    outcomes.use_champion(champion.model_id, champion.cost, labels)
    reports: list[TickReport] = []
    runner.tick_listeners.extend([outcomes.on_tick, reports.append])
    return outcomes, reports


def stream(seconds: int) -> list[MarketEvent]:
    return market_events(seconds=seconds, step_ms=100)


async def test_every_prediction_is_resolved_pending_or_dropped(
    packages: dict[str, PackagedScorer],
) -> None:
    champion = packages["champion"]
    runner, _ = scoring_runner(champion)
    outcomes, reports = wire(runner, champion)
    runner.process(stream(20))
    await outcomes.refresh()
    scored = [r for r in reports if r.ranked]
    assert len(scored) >= 15
    m = outcomes.latest()[CHAMPION]
    made = len(scored) * len(SYMBOLS)
    assert m.resolved_total > 0
    assert m.resolved_total + m.dropped_total + m.pending == made
    assert m.pending == len(SYMBOLS) * 5, "the last H ticks of each symbol wait for t+H"
    assert m.count == m.resolved_total, "everything resolved is still in the 600 s window"
    assert m.topk_count == 2 * m.resolved_total // len(SYMBOLS), "K=2 of 3 symbols per tick"
    assert 0.0 <= m.brier <= 1.0
    assert m.model_id == champion.model_id


@pytest.mark.parametrize(
    ("challenger", "own_resolver"), [("same_label", False), ("other_label", True)]
)
async def test_the_challenger_is_judged_beside_the_champion_but_never_ranked(
    packages: dict[str, PackagedScorer], challenger: str, own_resolver: bool
) -> None:
    champion, shadow = packages["champion"], packages[challenger]
    runner, state = scoring_runner(champion)
    outcomes, reports = wire(runner, champion)
    labels = labels_of(shadow)
    assert labels is not None
    outcomes.use_challenger(shadow, shadow.cost, labels)
    runner.process(stream(20))
    await outcomes.refresh()
    latest = outcomes.latest()
    assert set(latest) == {CHAMPION, CHALLENGER}
    assert latest[CHALLENGER].model_id == shadow.model_id != champion.model_id
    assert latest[CHALLENGER].pending == len(SYMBOLS) * labels.horizon_ticks
    assert outcomes.champion is not None
    assert (CHALLENGER in outcomes.champion.roles) is not own_resolver
    assert latest[CHALLENGER].resolved_total > 0
    ranked_models = {p.model_id for r in reports for p in (*r.ranked, *r.alerts)}
    assert ranked_models == {champion.model_id}, "the shadow never reaches ranks or alerts"
    assert any(r.alerts for r in reports), "the champion did alert (threshold 0.01)"
    assert len(state.ranks) == 2


async def test_outcome_gauges_reach_metrics_with_only_the_role_label(
    packages: dict[str, PackagedScorer],
) -> None:
    champion, shadow = packages["champion"], packages["same_label"]
    runner, state = scoring_runner(champion)
    outcomes, _ = wire(runner, champion)
    labels = labels_of(shadow)
    assert labels is not None
    outcomes.use_challenger(shadow, shadow.cost, labels)
    registry = CollectorRegistry()
    LiveMetrics(registry, MetricSources(state=state, fresh_s=10.0, outcomes=outcomes))
    empty = generate_latest(registry).decode()
    assert "# TYPE csx_live_brier gauge" in empty
    assert 'csx_live_brier{role="champion"}' not in empty, "nothing resolved yet"
    runner.process(stream(15))
    await outcomes.refresh()
    text = generate_latest(registry).decode()
    for role in (CHAMPION, CHALLENGER):
        m = outcomes.latest()[role]
        assert f'csx_live_resolved_total{{role="{role}"}} {float(m.resolved_total)}' in text
        assert f'csx_live_brier{{role="{role}"}} {m.brier!r}' in text
        assert f'csx_live_ece{{role="{role}"}}' in text
        assert f'csx_live_topk_hit_rate{{role="{role}"}}' in text
    assert label_violations(text) == []
    summary = outcomes.summary()
    assert summary[CHAMPION]["resolved_total"] == outcomes.latest()[CHAMPION].resolved_total


def test_only_packaged_models_carry_a_label_definition(
    packages: dict[str, PackagedScorer],
) -> None:
    champion = packages["champion"]
    labels = labels_of(champion)
    assert labels is not None
    assert (labels.horizon_s, labels.threshold_bps) == (5, 1.0)
    assert labels_of(champion.baseline) is None
