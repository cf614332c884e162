"""``csx model list|promote|rollback``: the registry from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from csx_core.cli import Command


def _add_registry_args(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """Registry options; on ``csx model`` and on each action, so they may come before or after
    the action. The actions' copies use SUPPRESS defaults so they never overwrite values given
    before the action."""

    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--data-dir", type=Path, default=default(Path("data")))
    parser.add_argument(
        "--tracking-uri",
        default=default(None),
        help="MLflow tracking URI (default: sqlite in data/)",
    )
    parser.add_argument("--model-name", default=default("csx-inplay"))


def _configure(parser: argparse.ArgumentParser) -> None:
    _add_registry_args(parser, defaults=True)
    registry = argparse.ArgumentParser(add_help=False)
    _add_registry_args(registry, defaults=False)
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("list", parents=[registry], help="list model versions with their aliases")
    promote = sub.add_parser(
        "promote", parents=[registry], help="make a version the champion if its gates pass"
    )
    promote.add_argument("version")
    promote.add_argument("--profile", choices=["DEV", "PROD"], default="DEV")
    promote.add_argument("--force", action="store_true", help="skip the gates (operator override)")
    sub.add_parser(
        "rollback", parents=[registry], help="return the champion alias to the previous champion"
    )


def _run(args: argparse.Namespace) -> int:
    # Read-only on a mistyped path: the default sqlite registry would otherwise be created
    # afresh inside it and every answer would be an empty one.
    if args.tracking_uri is None and not args.data_dir.is_dir():
        print(f"csx model: error: --data-dir {args.data_dir}: no such directory", file=sys.stderr)
        return 2
    try:
        return _act(args)
    except (RuntimeError, ValueError) as exc:
        print(f"csx model {args.action}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # MLflow's own errors, imported lazily: one line, not a traceback
        if type(exc).__name__ != "MlflowException":
            raise
        print(f"csx model {args.action}: error: {exc}", file=sys.stderr)
        return 2


def _act(args: argparse.Namespace) -> int:
    from csx_pipelines.promotion import Profile, evaluate_gates
    from csx_pipelines.registry import ModelRegistry, default_tracking_uri

    registry = ModelRegistry(
        args.tracking_uri or default_tracking_uri(args.data_dir), model_name=args.model_name
    )
    if args.action == "list":
        for v in registry.versions():
            print(
                json.dumps(
                    {
                        "version": v.version,
                        "aliases": v.aliases,
                        "run_id": v.run_id,
                        "tags": dict(v.tags),
                    }
                )
            )
        return 0
    if args.action == "rollback":
        print(f"champion -> version {registry.rollback()}")
        return 0
    if args.force:
        registry.force_promote(args.version)
        print(f"champion -> version {args.version} (forced, gates skipped)")
        return 0
    gates = evaluate_gates(
        registry.version_metrics(args.version),
        Profile(args.profile),
        has_champion=registry.champion() is not None,
    )
    outcome = registry.promote(args.version, gates)
    for gate in outcome.gates:
        print(f"  {'PASS' if gate.passed else 'FAIL'} {gate.gate}: {gate.detail}")
    if not outcome.promoted:
        print(f"version {args.version} NOT promoted; champion stays {outcome.previous}")
        return 1
    print(f"champion -> version {args.version}")
    return 0


COMMAND = Command(
    name="model",
    help="List, promote (gated) or roll back model versions in the MLflow registry.",
    configure=_configure,
    run=_run,
)
