"""Real BTC/ETH captures: live resolution equals the training label on real books."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from csx_core.features import FeatureEngine, drive_tables, frames_to_table
from csx_core.ml.costs import CostModel
from csx_core.ml.labels import LabelConfig, label_features
from csx_core.outcomes import CHAMPION, OutcomeResolver, PredictionBatch, ResolverConfig
from tests.test_features_realdata import read_capture
from tests.test_outcomes_parity import assert_same
from tests.test_replay import tables_of


def test_real_capture_resolves_like_label_features(realdata: Path) -> None:
    folder = realdata / "hftbacktest_usdm_2024-08-08"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    events = read_capture(folder / "btcusdt_20240808.gz")
    events += read_capture(folder / "ethusdt_20240808.gz")
    events.sort(key=lambda e: e.ts_event)
    frames = list(drive_tables(FeatureEngine(), [tables_of(events)]))
    labels = LabelConfig(horizon_s=60, tick_s=1, threshold_bps=0.0)
    cost = CostModel(fee_tier="VIP4", impact_coef_bps=0.0)
    resolver = OutcomeResolver(cost, labels, ResolverConfig(window_s=10**6, top_k=1))
    got: dict[tuple[str, int], dict[str, object]] = {}
    for f in frames:
        p = np.full(len(f), 0.5)
        batch = PredictionBatch(CHAMPION, "m", f.symbols, p, np.ones(len(f), np.int8))
        for res in resolver.on_frame(f, [batch]):
            for i, sym in enumerate(res.symbols):
                got[(sym, res.ts - labels.horizon_ns)] = {k: v[i] for k, v in res.labels.items()}
    table = label_features(frames_to_table(frames), cost, labels)
    assert table.num_rows > 300
    assert_same(table, got, labels)
    m = resolver.metrics(CHAMPION)
    assert m.resolved_total == table.num_rows
    assert m.brier == pytest.approx(0.25)
