"""Backtest-report explanations (``csx_pipelines.explain_report``): the top alerts are the
test-fold rows with the highest calibrated p, their evidence is built like live (same cost
model, reason codes with the row's feature values), every explanation passes the guardrails,
and with an API key the LLM path is taken and falls back to the template when it fails."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

from csx_core.contracts import ExplainSource
from csx_core.explain import check_explanation, template_output
from csx_core.explain.mapping import feature_for_codes
from csx_core.ml.backtest import BacktestConfig
from csx_core.ml.labels import LabelConfig
from csx_core.ml.lgbm import LgbmParams
from csx_core.ml.splits import SplitConfig
from csx_core.ml.synthetic import synthetic_feature_table
from csx_core.ml.train import Dataset, FittedFold, TrainConfig, build_dataset, fit_fold
from csx_pipelines.explain_report import (
    API_KEY_ENV,
    explain_packets,
    explain_top_alerts,
    explanation_lines,
    top_alert_evidence,
)

Trained = tuple[Dataset, list[FittedFold], TrainConfig]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    config = TrainConfig(
        out_dir=tmp_path_factory.mktemp("explain-report"),
        labels=LabelConfig(horizon_s=60, threshold_bps=-4.0, volume_feature="quote_vol_60s"),
        splits=SplitConfig(n_folds=2, test_frac=0.2),
        lgbm=LgbmParams(max_rounds=30, learning_rate=0.2, early_stopping_rounds=10),
        backtest=BacktestConfig(k=3, n_boot=20, n_blocks=10),
    )
    ds = build_dataset(synthetic_feature_table(n_symbols=8, n_ticks=4000, seed=0), config)
    return ds, [fit_fold(ds, fold, config) for fold in ds.folds], config


def test_top_alerts_are_the_highest_test_fold_probabilities(trained: Trained) -> None:
    ds, fitted, config = trained
    evidence = top_alert_evidence(ds, fitted, config.cost, n=4)
    assert len(evidence) == 4
    none = np.empty(0, dtype=np.int64)
    every_p = np.concatenate(
        [ff.scorer().score(ds.x[ff.fold.test], reason_rows=none).p for ff in fitted]
    )
    expected = np.sort(every_p)[::-1][:4]
    np.testing.assert_allclose([e.p_inplay for e in evidence], expected)
    assert [e.p_inplay for e in evidence] == sorted((e.p_inplay for e in evidence), reverse=True)


def test_packets_carry_the_rows_values_and_the_cost_models_breakdown(trained: Trained) -> None:
    ds, fitted, config = trained
    evidence = top_alert_evidence(ds, fitted, config.cost, n=5)
    mapping = feature_for_codes(ds.names)
    symbols = ds.table.column("symbol").to_pylist()
    ts = ds.table.column("ts").to_numpy()
    x = ds.x
    assert any(e.reasons for e in evidence)
    for e in evidence:
        row = next(i for i in range(len(ts)) if ts[i] == e.ts and symbols[i] == e.symbol)
        bid = float(ds.table.column("px_bid")[row].as_py())
        ask = float(ds.table.column("px_ask")[row].as_py())
        assert e.costs == config.cost.breakdown(bid, ask)
        for r in e.reasons:
            assert r.feature == mapping[r.code]
            assert r.value == x[row, ds.names.index(r.feature)]


def test_without_a_key_the_template_explains_and_passes_the_guardrails(trained: Trained) -> None:
    ds, fitted, config = trained
    lines = explain_top_alerts(ds, fitted, config.cost, n=3, environ={})
    evidence = top_alert_evidence(ds, fitted, config.cost, n=3)
    outputs = explain_packets(evidence, {})
    assert outputs == [template_output(e) for e in evidence]
    for e, o in zip(evidence, outputs, strict=True):
        assert check_explanation(e, o.status.value, o.text).ok
    assert lines == explanation_lines(evidence, outputs)
    assert lines[0] == "## Top alerts, explained"
    items = [line for line in lines if line[:2] in {"1.", "2.", "3."}]
    assert [item.split("**")[1] for item in items] == [e.symbol for e in evidence]
    assert all("(TEMPLATE)" in line for line in lines if line.startswith("   "))


def test_an_empty_test_fold_gives_a_clear_line() -> None:
    assert explanation_lines([], [])[-2] == "No test-fold rows to explain."
    assert explain_packets([], {API_KEY_ENV: "sk-test"}) == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_with_a_key_the_llm_is_asked_and_failure_falls_back(trained: Trained) -> None:
    ds, fitted, config = trained
    evidence = top_alert_evidence(ds, fitted, config.cost, n=2)
    outputs = explain_packets(
        evidence,
        {API_KEY_ENV: "sk-ant-test-canary"},
        {"base_url": f"http://127.0.0.1:{_closed_port()}", "timeout_s": 1.0},
    )
    assert [o.source for o in outputs] == [ExplainSource.TEMPLATE] * 2
    assert all(o.rejected in {"UPSTREAM_ERROR", "TIMEOUT", "BREAKER_OPEN"} for o in outputs), (
        outputs
    )
    assert [o.text for o in outputs] == [template_output(e).text for e in evidence]


def test_the_module_keeps_csx_live_out_of_the_default_path(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys, csx_pipelines.explain_report as m; "
        "print(any(k.startswith('csx_live') for k in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path,
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )  # fmt: skip
    assert done.stdout.strip() == "False"


def test_the_edge_is_the_backtest_tables_and_unknown_without_one(trained: Trained) -> None:
    from csx_core.contracts import Direction
    from csx_core.ml.edge import EdgeTable

    ds, fitted, config = trained
    table = EdgeTable(
        p_edges=(0.0, 1.0),
        conf_edges=(0.0, 1.0),
        mean_bps=((-3.2,),),
        ci_low=((-5.0,),),
        ci_high=((-1.0,),),
        trades=((100,),),
        min_trades=30,
    )
    with_table = top_alert_evidence(ds, fitted, config.cost, n=5, edge=table)
    without = top_alert_evidence(ds, fitted, config.cost, n=5)
    assert [e.symbol for e in with_table] == [e.symbol for e in without]
    assert all(e.backtest_net_edge_bps is None for e in without), "no table: unknown, never 0"
    assert any(e.backtest_net_edge_bps is not None for e in with_table), "some rows call a side"
    for e in with_table:
        called = e.direction in (Direction.UP, Direction.DOWN)
        assert e.backtest_net_edge_bps == (-3.2 if called else None)
    lines = explanation_lines(with_table, explain_packets(with_table, {}))
    items = [line for line in lines if line[:2] in {"1.", "2.", "3.", "4.", "5."}]
    for e, item in zip(with_table, items, strict=True):
        expected = "unknown" if e.backtest_net_edge_bps is None else "\u22123.2 bps per trade"
        assert f"backtest net edge {expected}" in item
    assert all("net edge 0.0" not in line for line in lines)
