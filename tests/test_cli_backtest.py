"""Issue 17 item 1: ``csx backtest`` on a simulated store gives the Dagster monitoring
asset's numbers, writes the report files (one self-contained HTML), prints the compact
table, and turns every bad input into one error line.

The store spans midnight (day 1 20:00 → day 2 04:00 UTC, six symbols): the pipeline's
continuous replay warms day 2 from day 1, which ``csx backtest --start <day 2>`` must match.
A small package is trained on day 1's features and registered as the MLflow champion, so the
asset (``champion_backtest``, materialized through Dagster) and the command both read
``models:/csx-inplay@champion``.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from csx_core.cli import main
from csx_core.ml.plots import PLOT_FILES

DAY1, DAY2 = date(2026, 1, 1), date(2026, 1, 2)
NS_H = 3600 * 1_000_000_000
MIDNIGHT = (DAY2 - date(1970, 1, 1)).days * 24 * NS_H
SYMBOLS = 6  # top-K precision (K = 5) needs more symbols than K


@dataclass(frozen=True)
class Lake:
    data: Path
    package: Path
    tracking_uri: str


def _write_window(store_root: Path, lo_ns: int, hi_ns: int) -> None:
    from csx_core.sim import SimConfig, simulate
    from csx_core.store import EventStore

    config = SimConfig(
        seed=5,
        start=DAY1,
        days=2,
        n_symbols=SYMBOLS,
        episodes_per_day=60,
    )
    store = EventStore(store_root)
    for _, tables in simulate(config):
        for kind, table in tables.items():
            ts = table.column("ts_event")
            store.write(
                kind, table.filter(pc.and_(pc.greater_equal(ts, lo_ns), pc.less(ts, hi_ns)))
            )


def _train_package(features: Path, out: Path) -> tuple[Path, str, dict[str, Any]]:
    """A quick package trained on day 1 only (day 2 is what gets backtested)."""
    from csx_core.ml.backtest import BacktestConfig
    from csx_core.ml.dataset import feature_files, labelled_sample
    from csx_core.ml.labels import LabelConfig
    from csx_core.ml.lgbm import LgbmParams
    from csx_core.ml.splits import SplitConfig
    from csx_core.ml.train import (
        TrainConfig,
        dataset_from_labelled,
        evaluate_folds,
        fit_fold,
        package_fold,
    )

    config = TrainConfig(
        out_dir=out,
        labels=LabelConfig(horizon_s=120, threshold_bps=5.0, volume_feature="qvol_1m"),
        splits=SplitConfig(n_folds=2, embargo_s=120),
        lgbm=LgbmParams(max_rounds=60, learning_rate=0.1, early_stopping_rounds=10),
        backtest=BacktestConfig(n_boot=50),
    )
    files = feature_files(features)
    assert [f.parent.name for f in files] == [f"date={DAY1}", f"date={DAY2}"]
    ds = dataset_from_labelled(
        labelled_sample(files[:1], config.cost, config.labels, stride_s=5), config
    )
    fitted = [fit_fold(ds, fold, config) for fold in ds.folds]
    report = evaluate_folds(ds, fitted, config)
    digest = package_fold(ds, fitted[-1], report, config, out / "package")
    return out / "package", digest, report.to_dict()


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    from csx_pipelines.promotion import flatten_report
    from csx_pipelines.registry import (
        ModelRegistry,
        default_artifact_location,
        default_tracking_uri,
    )
    from csx_pipelines.stages import replay_features

    data = tmp_path_factory.mktemp("lake") / "data"
    _write_window(data / "events", MIDNIGHT - 4 * NS_H, MIDNIGHT + 4 * NS_H)
    replay_features(data)  # what the feature_snapshots asset does: one continuous replay
    package, digest, report = _train_package(data / "features", data / "training")
    uri = default_tracking_uri(data)
    registry = ModelRegistry(uri, artifact_location=default_artifact_location(data))
    tags = {"package_digest": digest}
    run_id = registry.log_run(
        package_dir=package, params={}, metrics=flatten_report(report), tags=tags
    )
    registry.force_promote(registry.register(run_id, tags=tags))
    return Lake(data, package, uri)


def _backtest(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["backtest", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@pytest.mark.slow
def test_matches_the_dagster_champion_backtest_asset(
    lake: Lake, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg

    from csx_core.ml.dataset import feature_files
    from csx_core.ml.evaluate import backtest_package, label_files
    from csx_core.ml.package import load_package
    from csx_pipelines.assets.monitoring import champion_backtest
    from csx_pipelines.resources import LakeResource, RegistryResource

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = dg.materialize(
        [champion_backtest],
        resources={
            "lake": LakeResource(data_dir=str(lake.data)),
            "mlflow": RegistryResource(data_dir=str(lake.data)),
        },
    )
    assert result.success
    asset = result.output_for_node("champion_backtest")
    assert asset["day"] == DAY2.isoformat()

    out = tmp_path / "report"
    code, stdout, stderr = _backtest(
        capsys,
        "--model", "models:/csx-inplay@champion",
        "--data-dir", str(lake.data),
        "--store", str(lake.data / "events"),
        "--start", DAY2.isoformat(),
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    report = json.loads((out / "report.json").read_text())
    model, baseline = report["metrics"]["model"], report["metrics"]["baseline"]
    assert report["n_rows"] == asset["rows"] > 0
    for key in ("roc_auc", "brier", "ece", "policy_net_bps", "direction_accuracy", "policy_trades"):
        assert _same(model[key], asset[key]), key
    assert _same(baseline["policy_net_bps"], asset["baseline_policy_net_bps"])
    ci = report["intervals"]["model"]["policy_net_bps"]
    assert _same(ci["ci_low"], asset["policy_net_bps_ci"]["ci_low"])
    assert _same(ci["ci_high"], asset["policy_net_bps_ci"]["ci_high"])
    # Three hours of training data prove no direction, so this model abstains and makes no
    # trade (NaN net bps, on both sides); the baseline trades, so trading numbers are compared.
    assert baseline["policy_trades"] > 0
    assert math.isfinite(baseline["policy_net_bps"])
    assert report["base_rate"] == asset["base_rate"]

    # The whole report equals backtest_package called as the asset calls it, on the
    # pipeline's own replay (features/ from the feature_snapshots stage).
    package = load_package(lake.package)
    direct = backtest_package(
        package, label_files(package, feature_files(lake.data / "features")[-1:])
    )
    assert json.dumps(direct.to_dict(), sort_keys=True) == json.dumps(report, sort_keys=True)
    assert (out / "report.md").read_text() == direct.to_markdown()

    run = json.loads((out / "run.json").read_text())
    assert run["model"]["version"] == "1"
    assert run["model"]["alias"] == "champion"
    assert run["model"]["package_digest"] == package.digest
    assert run["days"] == [DAY2.isoformat()]
    assert run["replay"]["from"] == DAY1.isoformat()  # one day of warm-up before --start
    assert "version 1" in stdout
    for stage in ("model", "replay", "label", "score+bootstrap", "write"):
        assert re.search(rf"^\[ *\d+\.\d s\] {re.escape(stage)}: done in \d+\.\d s$", stderr, re.M)


@pytest.mark.slow
def test_package_dir_writes_every_report_and_prints_the_table(
    lake: Lake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    chosen = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"]
    code, stdout, stderr = _backtest(
        capsys,
        "--model", str(lake.package),
        "--store", str(lake.data / "events"),
        "--start", DAY2.isoformat(), "--end", DAY2.isoformat(),
        "--symbols", ",".join(chosen),
        "--k", "2", "--n-boot", "50",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    for name in ("report.json", "report.md", "report.html", "run.json", *PLOT_FILES):
        assert (out / name).stat().st_size > 0, name
    assert not list(out.glob(".backtest-*")), "the scratch replay is removed"
    report = json.loads((out / "report.json").read_text())
    assert report["config"]["k"] == 2
    assert report["config"]["n_boot"] == 50
    assert json.loads((out / "run.json").read_text())["symbols"] == chosen

    page = (out / "report.html").read_text()
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", page)
    assert len(refs) == len(PLOT_FILES)
    assert all(r.startswith("data:image/png;base64,") for r in refs), refs
    assert "<table>" in page
    assert "|" not in re.sub(r"<[^>]+>", "", page.split("<h1>")[1])
    assert "net bps per trade (label policy)" in page

    lines = stdout.splitlines()
    metrics, intervals = report["metrics"], report["intervals"]
    for scorer in ("model", "baseline", "random"):
        row = next(line for line in lines if line.startswith(scorer + " "))
        value, ci = metrics[scorer]["policy_net_bps"], intervals[scorer]["policy_net_bps"]
        expected = (
            f"{value:+.2f} [{ci['ci_low']:+.2f}, {ci['ci_high']:+.2f}]"
            if math.isfinite(value)
            else "—"  # no trade (the model abstains on direction): no number, no CI
        )
        assert expected in row, (expected, row)
        assert row.split()[-1] == str(int(metrics[scorer]["policy_trades"]))
        hit = metrics[scorer]["policy_hit_rate"]
        assert (f"{hit:.3f}" if math.isfinite(hit) else "—") in row
    assert math.isfinite(metrics["baseline"]["policy_net_bps"])  # one row with real numbers
    auc = report["deltas"]["roc_auc"]
    auc_line = next(line for line in lines if "roc_auc" in line)
    assert f"{auc['estimate']:+.4f} [{auc['ci_low']:+.4f}, {auc['ci_high']:+.4f}]" in auc_line
    assert any("precision@2" in line for line in lines)


def _one_error_line(err: str) -> str:
    assert err.count("\n") == 1, err
    assert err.startswith("csx backtest: error: "), err
    return err


@pytest.mark.slow
def test_too_little_data_says_why(
    lake: Lake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    short = tmp_path / "events"
    _write_window(short, MIDNIGHT, MIDNIGHT + 20 * 60 * 1_000_000_000)  # 20 min: never warm
    code, _, err = _backtest(
        capsys, "--model", str(lake.package), "--store", str(short), "--out", str(tmp_path / "o")
    )
    assert code == 2
    line = _one_error_line(err.splitlines(keepends=True)[-1])
    assert re.search(r"none of the \d+ labelled rows is warm and gap-free: .*>= 1 h of data", line)
    assert "[" in err.splitlines()[0]  # the progress lines came before it


@pytest.mark.slow
def test_errors_that_need_a_real_package(
    lake: Lake, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = str(lake.data / "events")
    code, _, err = _backtest(
        capsys, "--model", str(lake.package), "--store", events, "--symbols", "NOPEUSDT",
        "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert code == 2
    assert "no events for NOPEUSDT" in _one_error_line(err.splitlines(keepends=True)[-1])

    tampered = tmp_path / "pkg"
    shutil.copytree(lake.package, tampered)
    (tampered / "metrics.json").write_text("{}")
    code, _, err = _backtest(capsys, "--model", str(tampered), "--store", events)
    assert code == 2
    assert "metrics.json" in _one_error_line(err.splitlines(keepends=True)[-1])

    code, _, err = _backtest(
        capsys, "--model", "models:/csx-inplay@nosuch", "--tracking-uri", lake.tracking_uri,
        "--store", events, "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert code == 2
    assert "no version with alias 'nosuch'" in _one_error_line(err.splitlines(keepends=True)[-1])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "{tmp}/nope"], "--model {tmp}/nope: no such package directory"),
        (["--model", "models:/csx-inplay"], "cannot parse model URI 'models:/csx-inplay'"),
        (
            ["--model", "models:/csx-inplay@champion", "--data-dir", "{tmp}"],
            "no MLflow registry at {tmp}/mlflow/mlflow.db",
        ),
        (
            ["--model", "{tmp}", "--start", "2026-01-03", "--end", "2026-01-02"],
            "--start 2026-01-03 is after --end 2026-01-02",
        ),
    ],
)
def test_bad_input_is_one_line(
    argv: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "events").mkdir()
    filled = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, out, err = _backtest(
        capsys, *filled, "--store", str(tmp_path / "events"), "--out", str(tmp_path / "out")
    )
    assert code == 2
    assert out == ""
    assert message.replace("{tmp}", str(tmp_path)) in _one_error_line(err)


def test_missing_store_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["backtest", "--model", str(tmp_path), "--store", str(tmp_path / "nope")])
    assert exit_info.value.code == 2
    last = capsys.readouterr().err.splitlines()[-1]
    assert last == f"csx backtest: error: argument --store: {tmp_path / 'nope'}: no such directory"


def test_help_states_the_asset_defaults() -> None:
    """The options default to BacktestConfig's own values (the monitoring asset's); the help
    text names them without importing numpy at every ``csx`` start."""
    from csx_core.cli import build_parser
    from csx_core.ml.backtest import BacktestConfig

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    helps = {a.dest: a.help for a in sub.choices["backtest"]._actions}  # type: ignore[attr-defined]
    defaults = BacktestConfig()
    assert f"(default {defaults.k})" in str(helps["k"])
    assert f"(default {defaults.n_boot})" in str(helps["n_boot"])
    assert f"(default {defaults.seed})" in str(helps["seed"])
