"""``csx backtest``: evaluate a model package on an event store, with the monitoring asset's
own evaluation (``csx_pipelines.model_backtest``)."""

from __future__ import annotations

import argparse
import os
from datetime import date
from pathlib import Path

from csx_core.cli import Command, CommandError, existing_dir, int_in, positive_int


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        required=True,
        help="a model package directory, or models:/<name>@<alias> (e.g. "
        "models:/csx-inplay@champion) or models:/<name>/<version>",
    )
    parser.add_argument(
        "--store", type=existing_dir, default="data/events", help="event store (must exist)"
    )
    parser.add_argument("--start", type=date.fromisoformat, help="first UTC day evaluated")
    parser.add_argument("--end", type=date.fromisoformat, help="last UTC day evaluated")
    parser.add_argument("--symbols", help="comma-separated symbols (default: all)")
    parser.add_argument("--out", type=Path, default=Path("data/backtest"), help="report directory")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        help="where the default MLflow registry lives (data/mlflow/mlflow.db)",
    )
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI for models:/ (default: MLFLOW_TRACKING_URI, else sqlite "
        "in --data-dir)",
    )
    # None: BacktestConfig's own default, the one the monitoring asset uses (not imported
    # here: it pulls numpy into every ``csx`` start).
    parser.add_argument("--k", type=positive_int, help="top-K per tick (default 5)")
    parser.add_argument(
        "--n-boot", type=int_in(10, 100_000), help="bootstrap resamples (default 200)"
    )
    parser.add_argument("--seed", type=int_in(0, 2**32 - 1), help="bootstrap seed (default 0)")
    parser.add_argument(
        "--stride", type=positive_int, default=10, help="keep one tick in this many seconds"
    )


def _tracking_uri(args: argparse.Namespace) -> str:
    """The explicit URI, else the environment's, else the data dir's sqlite registry; the
    last only if it exists (MLflow would otherwise create an empty one and find nothing)."""
    from csx_pipelines.model_backtest import check_source

    if check_source(args.model) is None:
        return ""
    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", "")
    if uri:
        return str(uri)
    from csx_pipelines.registry import default_tracking_uri

    db = args.data_dir / "mlflow" / "mlflow.db"
    if not db.is_file():
        raise CommandError(
            f"no MLflow registry at {db}: pass --tracking-uri, set MLFLOW_TRACKING_URI or "
            "--data-dir, or give --model a package directory"
        )
    return default_tracking_uri(args.data_dir)


def _run(args: argparse.Namespace) -> int:
    from csx_core.ml.backtest import BacktestConfig
    from csx_pipelines.backtest_report import summary_table
    from csx_pipelines.model_backtest import BacktestSettings, Progress, run_backtest

    symbols = (
        tuple(s.strip() for s in args.symbols.split(",") if s.strip()) if args.symbols else None
    )
    chosen = {"k": args.k, "n_boot": args.n_boot, "seed": args.seed}
    overrides = {name: value for name, value in chosen.items() if value is not None}
    settings = BacktestSettings(
        model=args.model,
        store=args.store,
        out=args.out,
        tracking_uri=_tracking_uri(args),
        start=args.start,
        end=args.end,
        symbols=symbols or None,
        stride_s=args.stride,
        config=BacktestConfig(**overrides),
    )
    run = run_backtest(settings, Progress())
    version = f" version {run.model.version}" if run.model.version else ""
    print(f"{run.model.source}{version} ({run.model.package.model_id}) on {', '.join(run.days)}")
    print(summary_table(run.report))
    print(f"report: {args.out / 'report.html'} (+ report.json, report.md, plots, run.json)")
    return 0


COMMAND = Command(
    name="backtest",
    help="Backtest a model (package dir or models:/ URI) on the event store: replay, "
    "label with the package's costs, model vs baseline vs random with CIs.",
    configure=_configure,
    run=_run,
)
