"""Resolve an MLflow model version and download its package, in a process of its own.

Importing MLflow's client and its SQL store costs ~3.5 s of CPU. Inside the runner that
time is taken under the GIL the event loop needs while the symbols warm up: the demo's
runner was ready 10.5 s after it started with the fetch in its own process, 5.8 s when it
loaded a package directory and never touched MLflow. So ``csx_live.model`` runs this
module as a child (``python -m csx_live.model_fetch``), an interpreter of its own on a
core the runner leaves idle, and loads the package it names.

Input: one JSON object as the only argument (``name``, ``alias`` or ``version``,
``tracking_uri``, ``cache_dir``). Output: one JSON line on stdout (``dir``, ``version``,
``tags``: the version's tags, ``run_digest``: the package digest its run records, or "");
on failure, the error as the last line of stderr and exit code 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DIGEST_TAG = "package_digest"
"""The model-version tag (and run tag) the pipeline records the package digest under."""


def fetch(
    name: str, alias: str | None, version: str | None, tracking_uri: str, cache_dir: Path
) -> dict[str, Any]:
    """The version ``alias`` points at (or ``version``), downloaded under ``cache_dir``."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)
    if alias:
        found = client.get_model_version_by_alias(name, alias)
    else:
        found = client.get_model_version(name, str(version))
    tags = {str(k): str(v) for k, v in (found.tags or {}).items()}
    run_digest = ""
    if not tags.get(DIGEST_TAG, "").strip() and found.run_id:
        run_digest = str(client.get_run(found.run_id).data.tags.get(DIGEST_TAG, ""))
    dst = cache_dir / f"{name}-v{found.version}"
    dst.mkdir(parents=True, exist_ok=True)
    path = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{name}/{found.version}",
        dst_path=str(dst),
        tracking_uri=tracking_uri,
    )
    return {"dir": path, "version": str(found.version), "tags": tags, "run_digest": run_digest}


def main(argv: list[str]) -> int:
    try:
        (raw,) = argv
        ask = json.loads(raw)
        out = fetch(
            ask["name"],
            ask.get("alias"),
            ask.get("version"),
            ask["tracking_uri"],
            Path(ask["cache_dir"]),
        )
    except Exception as exc:  # the parent reports the last stderr line
        message = " ".join(f"{type(exc).__name__}: {exc}".split())
        print(message, file=sys.stderr, flush=True)
        return 1
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
