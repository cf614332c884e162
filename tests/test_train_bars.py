"""Issue 17 item 4: bar-only data trains, backtests and is served at its own cadence.

Bad values are one error line before any run starts; a store without book data is refused
naming the missing kind and ``--assume-spread-bps``. On a slice of the real hourly bars
(../shared/realdata), ``csx train --cadence 1h`` runs the whole Dagster training job and
reports each asset and check honestly, and ``csx backtest`` evaluates a package trained on
those bars with the package's own cadence and assumed spread, saying so in its reports.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from csx_core.cli import main

HOURLY = "spot_1h_multisymbol_mutthebug"
BARS_HEADER = "timestamp,open,high,low,close,volume,datetime"


def write_bars(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([BARS_HEADER, *rows]) + "\n")
    return path


def tiny_bar_store(tmp_path: Path) -> Path:
    """Twelve hourly bars of one symbol, imported by ``csx import``."""
    t0 = 1_774_425_600_000  # 2026-03-25 08:00 UTC, ms
    rows = [
        f"{t0 + k * 3_600_000},{100 + k},{101 + k},{99 + k},{100.5 + k},10.0,-" for k in range(12)
    ]
    csv = write_bars(tmp_path / "AAA_USDT_1h.csv", rows)
    data = tmp_path / "data"
    assert main(["import", "--store", str(data / "events"), "--quiet", str(csv)]) == 0
    return data


def one_error_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("csx train: error: ")
    return err[0]


def test_a_bar_only_store_is_refused_before_the_run_naming_kind_and_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tiny_bar_store(tmp_path)
    capsys.readouterr()
    line = one_error_line(capsys, ["train", "--data-dir", str(data), "--cadence", "1h"])
    assert "no book data" in line
    assert "book_top" in line
    assert "kline" in line
    assert "--assume-spread-bps" in line
    assert not (data / "dagster_home").exists()  # refused before any Dagster run


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--cadence", "1h", "--horizon-s", "1800"], "--horizon-s"),
        (["--cadence", "1h", "--stride", "7"], "stride of 7 s"),
    ],
)
def test_bad_values_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], says: str
) -> None:
    data = tiny_bar_store(tmp_path)
    capsys.readouterr()
    argv = ["train", "--data-dir", str(data), "--assume-spread-bps", "2", *extra]
    assert says in one_error_line(capsys, argv)


def test_argparse_refuses_what_is_not_a_value(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["--cadence", "hourly"],
        ["--cadence", "2h"],
        ["--cadence", "90"],
        ["--assume-spread-bps", "-1"],
        ["--lgbm-threads", "0"],
    ):
        with pytest.raises(SystemExit) as exc:
            main(["train", *argv])
        assert exc.value.code == 2
        assert "error: argument" in capsys.readouterr().err


def test_a_missing_store_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = one_error_line(capsys, ["train", "--data-dir", str(tmp_path / "nowhere")])
    assert "no event store" in line


def hourly_slice(realdata: Path, out: Path, symbols: int, hours: int) -> list[Path]:
    """The last ``hours`` bars of the first ``symbols`` files, as plain CSVs in ``out``."""
    files = sorted((realdata / HOURLY).glob("*_1h.csv.gz"))[:symbols]
    written = []
    for f in files:
        lines = gzip.decompress(f.read_bytes()).decode().splitlines()
        written.append(write_bars(out / f.name.removesuffix(".gz"), lines[-hours:]))
    return written


@pytest.mark.slow
def test_hourly_bars_train_backtest_and_report_their_assumed_spread(
    tmp_path: Path, realdata: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from csx_core.ml.dataset import feature_files
    from csx_core.ml.train import train_and_evaluate
    from csx_pipelines.stages import train_config

    csvs = hourly_slice(realdata, tmp_path, symbols=8, hours=24 * 45)
    data = tmp_path / "data"
    assert main(["import", "--store", str(data / "events"), "--quiet", *map(str, csvs)]) == 0
    capsys.readouterr()

    argv = ["train", "--data-dir", str(data), "--cadence", "1h", "--horizon-bars", "4"]
    argv += ["--assume-spread-bps", "3", "--threshold-bps", "60"]
    code = main(argv)
    out, err = capsys.readouterr()
    # the whole job ran at the bar cadence; its verdict is whatever the data gives
    assert "ticks 3600 s apart" in out
    assert re.search(r"labels: \{'rows': [1-9]\d+", out), out
    assert "check replay_determinism: PASS" in out
    assert "check features_nan_and_staleness: PASS" in out  # spread NaN: reported, not gated
    if code == 0:
        assert "registered version" in out
    else:
        assert code == 2
        failed = re.search(r"check (\w+): FAIL", out)
        assert failed is not None
        assert failed.group(1) in err  # the failing check is named
    replay = json.loads((data / "features" / "replay.json").read_text())
    assert replay["engine"]["cadence_s"] == 3600
    assert replay["engine"]["gap_after_s"] == 7200
    assert replay["quote_volume"] is False  # these bars carry none: reference volume prices impact

    # a package trained on these bars (without the gates) is backtested on them by command
    config = train_config(
        data,
        horizon_s=0,
        horizon_bars=4,
        threshold_bps=60.0,
        n_folds=1,
        embargo_s=60,
        calibration="platt",
        assume_spread_bps=3.0,
    )
    features = pa.concat_tables(pq.read_table(f) for f in feature_files(data / "features"))
    trained = train_and_evaluate(features, config)
    report_dir = tmp_path / "bt"
    code = main(
        [
            "backtest",
            "--model",
            str(trained.package_dir),
            "--store",
            str(data / "events"),
            "--out",
            str(report_dir),
            "--n-boot",
            "50",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "ticks 3600 s apart" in err
    assert "3 bps spread around the close" in err
    run = json.loads((report_dir / "run.json").read_text())
    assert run["cadence_s"] == 3600
    assert run["horizon_s"] == 4 * 3600
    assert run["assumed_spread_bps"] == 3.0
    assert run["evaluated_rows"] > 0
    html = (report_dir / "report.html").read_text()
    assert "assumed: 3 bps spread around the bar close" in html
    training = json.loads((trained.package_dir / "training.json").read_text())
    assert training["engine"]["cadence_s"] == 3600
    assert training["labels"]["assumed_spread_bps"] == 3.0
    assert training["labels"]["volume_feature"] is None
