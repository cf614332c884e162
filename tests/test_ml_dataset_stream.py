"""``labelled_sample`` streams day files (each labelled with the head of the next) and gives
exactly what labelling the whole replay at once gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from csx_core.ml.costs import CostModel
from csx_core.ml.dataset import KEY_COLUMNS, labelled_sample
from csx_core.ml.frame import NS_PER_S, sort_by_symbol_time, symbol_time_order
from csx_core.ml.labels import LABEL_COLUMNS, LabelConfig, label_features
from tests.test_ml_labels import make_table

MIDNIGHT = 1_767_312_000 * NS_PER_S  # 2026-01-02 00:00 UTC


def day_files(tmp_path: Path, seconds: int, seed: int) -> tuple[list[Path], pa.Table]:
    """Two symbols' 1 s ticks around midnight, with a missing tick and a gap flag, written
    as the replay writes them: one file per UTC day."""
    rng = np.random.default_rng(seed)
    tables = []
    for symbol in ("AAAUSDT", "BBBUSDT"):
        ts = MIDNIGHT + (np.arange(seconds) - seconds // 2) * NS_PER_S
        keep = np.ones(seconds, dtype=bool)
        keep[seconds // 3] = False  # a missing tick
        mids = 100.0 * np.exp(np.cumsum(rng.normal(0, 5e-4, seconds)))
        gaps = list(rng.random(seconds) < 0.01)
        table = make_table(
            mids[keep], symbol=symbol, ts=list(ts[keep]), gaps=list(np.array(gaps)[keep])
        )
        tables.append(table.append_column("qvol_1m", pa.array(rng.uniform(1e4, 1e6, keep.sum()))))
    everything = pa.concat_tables(tables)
    files = []
    for k, (lo, hi) in enumerate([(None, MIDNIGHT), (MIDNIGHT, None)]):
        ts = everything.column("ts").to_numpy()
        mask = np.ones(len(ts), dtype=bool)
        if lo is not None:
            mask &= ts >= lo
        if hi is not None:
            mask &= ts < hi
        path = tmp_path / f"date={k}" / "features.parquet"
        path.parent.mkdir()
        pq.write_table(everything.filter(pa.array(mask)).sort_by("ts"), path)
        files.append(path)
    return files, everything


@pytest.mark.parametrize(("horizon", "stride"), [(5, 1), (30, 7), (120, 10)])
def test_streamed_labels_equal_labelling_everything_at_once(
    tmp_path: Path, horizon: int, stride: int
) -> None:
    files, everything = day_files(tmp_path, 600, seed=horizon)
    cost = CostModel()
    labels = LabelConfig(horizon_s=horizon, threshold_bps=5.0, volume_feature="qvol_1m")
    got = labelled_sample(files, cost, labels, stride_s=stride)

    reference = label_features(everything, cost, labels)
    on_stride = (reference.column("ts").to_numpy() // NS_PER_S) % stride == 0
    reference = reference.filter(pa.array(on_stride))
    expected = sort_by_symbol_time(reference.select([*KEY_COLUMNS, *LABEL_COLUMNS]))
    assert got.num_rows == expected.num_rows > 0
    crossing = (got.column("ts").to_numpy() < MIDNIGHT) & (
        got.column("label_end_ts").to_numpy() >= MIDNIGHT
    )
    assert crossing.any()  # rows whose horizon runs into the next day's file are kept
    for name in (*KEY_COLUMNS, *LABEL_COLUMNS):
        assert got.column(name).equals(expected.column(name)), name
    # the wide feature columns are joined back, each row's own
    f1 = {
        (sym, ts): v
        for sym, ts, v in zip(
            *(everything.column(c).to_pylist() for c in ("symbol", "ts", "f1")), strict=True
        )
    }
    rows = zip(*(got.column(c).to_pylist() for c in ("symbol", "ts", "f1")), strict=True)
    assert all(f1[(sym, ts)] == v for sym, ts, v in rows)
    assert all(field.nullable for field in got.schema)


def test_the_memory_budget_lengthens_the_stride_by_whole_factors(tmp_path: Path) -> None:
    from csx_core.ml.dataset import budget_stride

    files, everything = day_files(tmp_path, 600, seed=1)
    rows = everything.num_rows  # 2 symbols x ~600 ticks
    assert budget_stride(files, 10, None) == 10
    assert budget_stride(files, 10, rows) == 10  # fits: unchanged
    assert budget_stride(files, 10, rows // 30) == 40  # ~120 rows at stride 10 -> 4x
    sample = labelled_sample(files, CostModel(), LabelConfig(horizon_s=5), stride_s=40)
    assert sample.num_rows <= rows // 30
    with pytest.raises(ValueError, match="max_rows"):
        budget_stride(files, 10, 0)


def test_the_budget_counts_the_rows_a_coarse_cadence_samples(tmp_path: Path) -> None:
    """At a tick every 60 s a stride of 60 s keeps every row: the budget must count them
    all (counting one row in 60 let a month of 300 symbols through uncapped)."""
    from csx_core.ml.dataset import budget_stride

    files, everything = day_files(tmp_path, 600, seed=1)
    rows = everything.num_rows
    assert budget_stride(files, 60, rows, tick_s=60) == 60
    quarter = -(-rows // 4)
    assert budget_stride(files, 60, quarter, tick_s=60) == 240
    assert budget_stride(files, 120, quarter, tick_s=60) == 240
    with pytest.raises(ValueError, match="multiple of tick_s"):
        budget_stride(files, 90, rows, tick_s=60)


def test_symbol_time_order_is_arrows_sort() -> None:
    rng = np.random.default_rng(3)
    n = 5_000
    symbols = rng.choice(["ZZUSDT", "AAUSDT", "MMUSDT", "AZUSDT"], n)
    ts = rng.permutation(n).astype(np.int64) * NS_PER_S
    table = pa.table({"symbol": symbols, "ts": ts, "x": rng.random(n)})
    chunked = pa.concat_tables([table.slice(0, 1234), table.slice(1234)])
    keys = [("symbol", "ascending"), ("ts", "ascending")]
    expected = pc.sort_indices(chunked, keys).to_pylist()
    assert symbol_time_order(chunked).to_pylist() == expected
    with_null = pa.table({"symbol": ["B", None, "A"], "ts": [1, 2, 3]})
    assert symbol_time_order(with_null).to_pylist() == [2, 0, 1]  # nulls last, as Arrow


def test_duplicate_keys_are_refused() -> None:
    from csx_core.ml.frame import FeatureTableError

    table = pa.table({"symbol": ["A", "B", "A"], "ts": [1, 1, 1]})
    with pytest.raises(FeatureTableError, match="duplicate"):
        sort_by_symbol_time(table)
