"""``csx soak check``: judge a SoakSummary against the thresholds file."""

from __future__ import annotations

import argparse
from pathlib import Path

from csx_core.cli import Command

DEFAULT_THRESHOLDS = Path(__file__).resolve().parents[2] / "monitoring" / "soak_thresholds.yml"


def _configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    check = sub.add_parser("check", help="check a soak summary JSON against its thresholds")
    check.add_argument("summary", type=Path, help="SoakSummary JSON written by a soak run")
    check.add_argument("--thresholds", type=Path, default=DEFAULT_THRESHOLDS)
    check.add_argument("--profile", help="threshold profile (default: the summary's profile)")


def _run(args: argparse.Namespace) -> int:
    from csx_core.soak import check_summary, format_results, load_thresholds
    from csx_core.soak.summary import SoakSummary

    summary = SoakSummary.from_json(args.summary.read_bytes())
    profile = args.profile or summary.profile
    results = check_summary(summary, load_thresholds(args.thresholds, profile))
    print(f"soak summary {args.summary} against profile {profile!r}:")
    print(format_results(results))
    failed = [r for r in results if not r.passed]
    print(
        f"{len(failed)} of {len(results)} thresholds exceeded" if failed else "all thresholds met"
    )
    return 1 if failed else 0


COMMANDS = [
    Command(
        name="soak",
        help="Fault-injection soak of the live runner, and the check of its summary.",
        configure=_configure,
        run=_run,
    ),
]
