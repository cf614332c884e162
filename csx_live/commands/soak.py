"""``csx soak [run]``: a fault-injection soak of the live runner; ``csx soak check``: judge a
SoakSummary against the thresholds file.

``csx soak --minutes 2`` and ``csx soak run --minutes 2`` are the same: ``run`` is the
default action. Both exit 1 with the threshold table when a threshold is exceeded.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from csx_core.cli import Command
from csx_core.soak import thresholds as _thresholds

if TYPE_CHECKING:
    from csx_core.soak import SoakSummary

DEFAULT_THRESHOLDS = _thresholds.DEFAULT_THRESHOLDS


def _positive_minutes(text: str) -> float:
    value = float(text)
    if not value * 60 >= 30:
        raise argparse.ArgumentTypeError("a soak needs at least 0.5 minutes")
    return value


def _add_run_args(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """Run options; on the parent parser too, so ``csx soak --minutes 2`` works. The
    subparser's copies use SUPPRESS defaults so they never overwrite values given before
    ``run``."""

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--minutes", type=_positive_minutes, default=default(2.0))
    parser.add_argument("--profile", choices=("baseline", "overload"), default=default("baseline"))
    parser.add_argument(
        "--out", type=Path, default=default(None), help="summary JSON (default: DATA_DIR/…)"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=default(Path("data/soak")),
        help="logs, cached simulated market and model package",
    )  # fmt: skip
    parser.add_argument(
        "--store", type=Path, default=default(None),
        help="replay this event store instead of the simulated market",
    )  # fmt: skip
    parser.add_argument(
        "--model-source", default=default(None),
        help="model package dir or models:/name@alias (default: a small generated package)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=default(0), help="seed of the fault dice")
    parser.add_argument("--thresholds", type=Path, default=default(DEFAULT_THRESHOLDS))


def _configure(parser: argparse.ArgumentParser) -> None:
    _add_run_args(parser, defaults=True)
    sub = parser.add_subparsers(dest="action")
    run = sub.add_parser("run", help="run a soak (the default action)")
    _add_run_args(run, defaults=False)
    check = sub.add_parser("check", help="check a soak summary JSON against its thresholds")
    check.add_argument("summary", type=Path, help="SoakSummary JSON written by a soak run")
    check.add_argument("--thresholds", type=Path, default=DEFAULT_THRESHOLDS)
    check.add_argument("--profile", help="threshold profile (default: the summary's profile)")


def _judge(summary: SoakSummary, source: str, thresholds: Path, profile: str) -> int:
    from csx_core.soak import check_summary, format_results, load_thresholds

    results = check_summary(summary, load_thresholds(thresholds, profile))
    print(f"soak summary {source} against profile {profile!r}:")
    print(format_results(results))
    failed = [r for r in results if not r.passed]
    print(
        f"{len(failed)} of {len(results)} thresholds exceeded" if failed else "all thresholds met"
    )
    return 1 if failed else 0


def _check(args: argparse.Namespace) -> int:
    from csx_core.soak.summary import SoakSummary

    summary = SoakSummary.from_json(args.summary.read_bytes())
    return _judge(summary, str(args.summary), args.thresholds, args.profile or summary.profile)


def _soak(args: argparse.Namespace) -> int:
    import signal
    import sys

    from csx_live.soak import run_soak
    from csx_live.soak.processes import SoakSetupError

    # SIGTERM (CI cancelling the job) unwinds like Ctrl-C, so the children get stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    out = args.out or args.data_dir / "soak_summary.json"
    print(f"soak: {args.minutes:g} min, profile {args.profile}, data in {args.data_dir}")
    try:
        summary = run_soak(
            data_dir=args.data_dir,
            minutes=args.minutes,
            profile=args.profile,
            store=args.store,
            model_source=args.model_source,
            out=out,
            seed=args.seed,
        )
    except SoakSetupError as exc:
        print(f"csx soak: {exc}")
        return 2
    print(summary.to_json().decode())
    return _judge(summary, str(out), args.thresholds, args.profile)


def _run(args: argparse.Namespace) -> int:
    return _check(args) if args.action == "check" else _soak(args)


COMMAND = Command(
    name="soak",
    help="Fault-injection soak of the live runner, and the check of its summary.",
    configure=_configure,
    run=_run,
)
