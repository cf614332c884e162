"""Which executor runs the steps inside one Dagster run, chosen by configuration.

Fan-out over partitions happens one level up: a backfill makes one run per daily partition
and the instance's run queue (``dagster.yaml``, see ``instance.py``; the Helm values on
Kubernetes) decides how many of those runs go at once. The executor picked here decides how
the steps of each run (an asset and its checks) share processes:

``in_process``
    every step in the run worker's process: no start-up cost per step.
``multiprocess``
    a subprocess per step, at most ``max_concurrent`` at once (the local default).
``k8s``
    a Kubernetes Job per step through ``dagster_k8s.k8s_job_executor``; the run pods
    themselves come from the K8sRunLauncher. The package is imported only when selected, so
    a local install does not need it.
"""

from __future__ import annotations

from typing import Final

import dagster as dg

EXECUTOR_ENV: Final = "CSX_EXECUTOR"
MAX_CONCURRENT_ENV: Final = "CSX_MAX_CONCURRENT"
EXECUTORS: Final = ("in_process", "multiprocess", "k8s")


class ExecutorConfigError(ValueError):
    """The executor settings are unusable; the message names the variable to fix."""


def parse_max_concurrent(raw: str) -> int:
    """The per-run step concurrency from its environment value (a positive integer)."""
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ExecutorConfigError(f"{MAX_CONCURRENT_ENV} must be a positive integer, got {raw!r}")
    return value


def executor_for(name: str, *, max_concurrent: int) -> dg.ExecutorDefinition:
    """The executor called ``name`` (one of ``EXECUTORS``), bounded to ``max_concurrent``
    steps at once where it runs steps in parallel."""
    if max_concurrent < 1:
        raise ExecutorConfigError(f"{MAX_CONCURRENT_ENV} must be >= 1, got {max_concurrent}")
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor.configured(
            {"max_concurrent": max_concurrent}, name="csx_multiprocess"
        )
    if name == "k8s":
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError as exc:
            raise ExecutorConfigError(
                f"{EXECUTOR_ENV}=k8s needs the dagster-k8s package in the code location's image"
                " (it ships with the Kubernetes deployment, see k8s/dagster/values.yaml)"
            ) from exc
        # Step pods inherit the K8sRunLauncher's image, env, volumes and resources
        # (runK8sConfig in the Helm values); only the bound is set here.
        executor: dg.ExecutorDefinition = k8s_job_executor.configured(
            {"max_concurrent": max_concurrent}, name="csx_k8s"
        )
        return executor
    raise ExecutorConfigError(f"{EXECUTOR_ENV} must be one of {', '.join(EXECUTORS)}; got {name!r}")
