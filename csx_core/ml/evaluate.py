"""Backtest a model package on labelled data it was not trained on.

The same evaluation as training's test folds (:func:`csx_core.ml.backtest.evaluate`), on
rows labelled with the package's own label definition and cost model, and filtered by the
rule training used (warm features, no gap at t): the model against the package's own
baseline and the seeded random reference. The Dagster monitoring asset, the demo's held-out
day and ``csx backtest`` all call :func:`backtest_package`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from csx_core.ml.backtest import (
    BacktestConfig,
    BacktestReport,
    Prediction,
    evaluate,
    table_eval_inputs,
)
from csx_core.ml.costs import CostModel
from csx_core.ml.frame import matrix
from csx_core.ml.labels import LabelConfig
from csx_core.ml.package import PackagedScorer


class NothingToEvaluateError(ValueError):
    """No labelled, warm, gap-free rows: there is nothing to backtest."""


def package_labels(package: PackagedScorer) -> LabelConfig:
    """The label definition the package was trained with."""
    return package.label_config


def tick_stride(stride_s: int, tick_s: int) -> int:
    """``stride_s`` on a grid of ``tick_s`` ticks: a multiple of the tick stays, a stride
    shorter than a tick that divides it keeps every tick; anything else is refused."""
    if stride_s % tick_s == 0:
        return stride_s
    if tick_s % stride_s == 0:
        return tick_s
    raise ValueError(f"a stride of {stride_s} s does not fit ticks {tick_s} s apart")


def label_files(package: PackagedScorer, files: Sequence[Path], *, stride_s: int = 10) -> pa.Table:
    """Feature files (a replay's day files) labelled with the package's own labels and cost
    model, one tick in ``stride_s`` kept (as training does)."""
    return label_files_with(package_labels(package), package.cost, files, stride_s=stride_s)


def label_files_with(
    labels: LabelConfig, cost: CostModel, files: Sequence[Path], *, stride_s: int = 10
) -> pa.Table:
    """``label_files`` before the package exists: with ``labels`` and ``cost``, which the
    caller checks against the package's before it evaluates it on the result."""
    from csx_core.ml.dataset import labelled_sample

    stride = tick_stride(stride_s, labels.tick_s)
    return labelled_sample(files, cost, labels, stride_s=stride)


def usable_rows(labelled: pa.Table) -> pa.Table:
    """The rows training would use: warm features and no gap at t."""
    keep = pc.and_(pc.invert(labelled.column("gap")), labelled.column("warm"))
    return labelled.filter(keep)


def backtest_package(
    package: PackagedScorer,
    labelled: pa.Table,
    config: BacktestConfig | None = None,
    *,
    data_label: str = "data the model was not trained on",
) -> BacktestReport:
    """Model vs the package's baseline vs random picks on ``labelled`` (see the module
    docstring); raises NothingToEvaluateError when no row is usable."""
    table = usable_rows(labelled)
    if table.num_rows == 0:
        raise NothingToEvaluateError(
            f"none of the {labelled.num_rows} labelled rows is warm and gap-free"
        )
    x = matrix(table, package.feature_names)
    none = np.empty(0, dtype=np.int64)
    model = package.score(x, reason_rows=none)
    baseline = package.baseline.score(x, reason_rows=none)
    return evaluate(
        table_eval_inputs(table, package_labels(package)),
        Prediction.of(model),
        Prediction.of(baseline),
        config or BacktestConfig(),
        data_label=data_label,
    )
