"""``csx train``: train, backtest, register and gate a model on your own event store
(``csx_pipelines.train``), at a tick cadence from 1 s up to hourly bars."""

from __future__ import annotations

import argparse
from pathlib import Path

from csx_core.cli import Command, int_in, positive_float, positive_int
from csx_pipelines.defaults import LABEL_THRESHOLD_BPS


def cadence(value: str) -> int:
    """An argparse ``type``: seconds between ticks (``30``, ``5m``, ``1h``), validated."""
    from csx_core.features.config import parse_cadence

    try:
        return parse_cadence(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


cadence.__name__ = "cadence"


def spread_bps(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not 0.0 <= number < 1_000.0:
        raise argparse.ArgumentTypeError(f"{value} is not in [0, 1000) bps")
    return number


spread_bps.__name__ = "bps"


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        help="data directory: its events/ store is trained on; the model, reports, Dagster "
        "instance and MLflow registry land there too (default: data)",
    )
    parser.add_argument(
        "--cadence",
        type=cadence,
        default=1,
        help="seconds between ticks: 1..60, or a bar cadence such as 5m, 15m or 1h for "
        "minute or hourly bar archives (default: 1)",
    )
    horizon = parser.add_mutually_exclusive_group()
    horizon.add_argument("--horizon-s", type=positive_int, help="label horizon in seconds")
    horizon.add_argument(
        "--horizon-bars",
        type=positive_int,
        help="label horizon in ticks of --cadence (default: 300 s, or 1 bar at a bar cadence)",
    )
    parser.add_argument(
        "--assume-spread-bps",
        type=spread_bps,
        help="for a store without book data (bars alone): the bid/ask spread assumed around "
        "each close, recorded in the package and every report",
    )
    parser.add_argument(
        "--threshold-bps",
        type=positive_float,
        default=LABEL_THRESHOLD_BPS,
        help=f"net move after costs that makes a row in play (default {LABEL_THRESHOLD_BPS:g})",
    )
    parser.add_argument(
        "--stride", type=positive_int, default=10, help="keep one tick in this many seconds"
    )
    parser.add_argument("--folds", type=int_in(1, 10), default=1, help="walk-forward folds")
    parser.add_argument(
        "--calibration", choices=("platt", "isotonic"), default="platt", help="default platt"
    )
    parser.add_argument(
        "--lgbm-threads",
        type=int_in(1, 64),
        default=1,
        help="LightGBM threads (default 1; more only on cores nothing else uses: another "
        "count gives another model)",
    )
    parser.add_argument(
        "--gap-after-s",
        type=positive_int,
        help="a symbol silent this long has a data gap (default: 120 s, two bars at a bar cadence)",
    )
    parser.add_argument(
        "--tracking-uri", default="", help="MLflow (default: sqlite under --data-dir)"
    )


def _run(args: argparse.Namespace) -> int:
    from csx_pipelines.train import TrainSettings, run_training

    outcome = run_training(
        TrainSettings(
            data_dir=args.data_dir,
            cadence_s=args.cadence,
            horizon_s=args.horizon_s,
            horizon_bars=args.horizon_bars,
            threshold_bps=args.threshold_bps,
            stride_s=args.stride,
            n_folds=args.folds,
            calibration=args.calibration,
            assume_spread_bps=args.assume_spread_bps,
            gap_after_s=args.gap_after_s,
            lgbm_threads=args.lgbm_threads,
            tracking_uri=args.tracking_uri,
        )
    )
    print(f"registered version {outcome.version or '?'}: {outcome.verdict}")
    print(f"package: {outcome.package_dir}  report: {outcome.report_dir / 'report.md'}")
    return 0


COMMAND = Command(
    name="train",
    help="Train, backtest, register and gate a model on the data directory's event store "
    "(1 s ticks up to hourly bars; --assume-spread-bps for bar-only data).",
    configure=_configure,
    run=_run,
)
