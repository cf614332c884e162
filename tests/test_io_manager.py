"""Step outputs pickled with their buffers out of band: what loads is what was dumped, a
failed dump keeps the previous output, files of Dagster's default format still load."""

import pickle
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import numpy as np
import pyarrow as pa
import pytest
from dagster import AssetExecutionContext

from csx_pipelines.io_manager import ALIGN, MAGIC, OutOfBandPickleIOManager, dump, load


@dataclass(frozen=True)
class Output:
    table: pa.Table
    matrix: np.ndarray
    names: tuple[str, ...]


def _output() -> Output:
    rng = np.random.default_rng(3)
    table = pa.table(
        {
            "ts": pa.array(np.arange(10_000, dtype=np.int64)),
            "x": pa.array(rng.random(10_000)),
            "symbol": pa.array(["BTCUSDT", "ETHUSDT"] * 5_000).dictionary_encode(),
        }
    ).replace_schema_metadata({b"feature_version": b"7"})
    return Output(table, rng.random((300, 7)), ("a", "b"))


def test_what_loads_is_what_was_dumped(tmp_path: Path) -> None:
    out = _output()
    dump(out, tmp_path / "asset")
    got = load(tmp_path / "asset")
    assert got.table.equals(out.table)
    assert got.table.schema.metadata == out.table.schema.metadata
    assert np.array_equal(got.matrix, out.matrix)
    assert got.names == out.names
    assert (tmp_path / "asset").read_bytes().startswith(MAGIC)


def test_loaded_buffers_are_mapped_not_copied_and_writes_stay_private(tmp_path: Path) -> None:
    matrix = np.arange(64 * 1024, dtype=np.float64)
    dump(matrix, tmp_path / "asset")
    a, b = load(tmp_path / "asset"), load(tmp_path / "asset")
    assert not a.flags.owndata
    assert a.ctypes.data % ALIGN == 0
    a[0] = -1.0  # copy-on-write: neither the file nor another load sees it
    assert b[0] == 0.0
    assert load(tmp_path / "asset")[0] == 0.0


def test_a_failed_dump_keeps_the_previous_output(tmp_path: Path) -> None:
    path = tmp_path / "asset"
    dump({"version": 1}, path)
    with pytest.raises(TypeError):
        dump({"version": 2, "lock": __import__("threading").Lock()}, path)
    assert load(path) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["asset"], "no temporary file left"


def test_a_plain_pickle_from_the_default_io_manager_loads(tmp_path: Path) -> None:
    (tmp_path / "asset").write_bytes(pickle.dumps({"rows": 3}, protocol=4))
    assert load(tmp_path / "asset") == {"rows": 3}


@pytest.mark.parametrize("keep", [len(MAGIC) + 4, 200, -100])
def test_a_truncated_file_is_refused(keep: int, tmp_path: Path) -> None:
    dump(np.ones(10_000), tmp_path / "asset")
    data = (tmp_path / "asset").read_bytes()
    (tmp_path / "asset").write_bytes(data[:keep])
    with pytest.raises(pickle.UnpicklingError):
        load(tmp_path / "asset")


def test_dagster_steps_hand_outputs_over_through_it(tmp_path: Path) -> None:
    days = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-03")

    @dg.asset(partitions_def=days)
    def day_rows(context: AssetExecutionContext) -> np.ndarray:
        return np.full(1000, float(context.partition_key[-1]))

    @dg.asset(partitions_def=days)
    def day_total(day_rows: np.ndarray) -> float:
        return float(day_rows.sum())

    result = dg.materialize(
        [day_rows, day_total],
        partition_key="2026-01-02",
        resources={"io_manager": OutOfBandPickleIOManager(base_dir=str(tmp_path))},
    )
    assert result.success
    assert result.output_for_node("day_total") == 2000.0
    stored = tmp_path / "day_rows" / "2026-01-02"
    assert stored.read_bytes().startswith(MAGIC)
    assert np.array_equal(load(stored), np.full(1000, 2.0))
