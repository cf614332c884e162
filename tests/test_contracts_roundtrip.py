"""Every contract survives JSON and Parquet unchanged (NaN compared as NaN)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from csx_core.contracts import (
    ALL_CONTRACTS,
    Contract,
    market_event_from_json,
    records_equal,
)
from tests.strategies import BY_CONTRACT, market_events

CONTRACT_NAMES = [c.__name__ for c in ALL_CONTRACTS]
CONTRACTS = {c.__name__: c for c in ALL_CONTRACTS}


def test_every_contract_has_a_strategy() -> None:
    assert set(BY_CONTRACT) == set(CONTRACT_NAMES)


@pytest.mark.parametrize("name", CONTRACT_NAMES)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_json_round_trip(name: str, data: st.DataObject) -> None:
    record = data.draw(BY_CONTRACT[name])
    decoded = CONTRACTS[name].from_json(record.to_json())
    assert records_equal([decoded], [record])


@pytest.mark.parametrize("name", CONTRACT_NAMES)
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_parquet_round_trip(name: str, data: st.DataObject, tmp_path: Path) -> None:
    cls: type[Contract] = CONTRACTS[name]
    records = data.draw(st.lists(BY_CONTRACT[name], max_size=8))
    path = tmp_path / f"{name}.parquet"
    pq.write_table(cls.to_arrow(records), path)
    table = pq.read_table(path)
    assert table.schema.metadata[b"csx.schema_version"] == str(cls.SCHEMA_VERSION).encode()
    assert records_equal(cls.from_arrow(table), records)


@settings(max_examples=100, deadline=None)
@given(event=market_events)
def test_market_event_union_round_trip(event: Contract) -> None:
    decoded = market_event_from_json(event.to_json())
    assert type(decoded) is type(event)
    assert decoded == event


def test_parquet_from_a_newer_schema_version_is_refused(tmp_path: Path) -> None:
    from csx_core.contracts import ContractError, RankEvent

    table = RankEvent.to_arrow([])
    newer = table.replace_schema_metadata(
        {b"csx.contract": b"RankEvent", b"csx.schema_version": b"99"}
    )
    with pytest.raises(ContractError, match="schema version 99") as err:
        RankEvent.from_arrow(newer)
    assert err.value.field == "schema_version"
