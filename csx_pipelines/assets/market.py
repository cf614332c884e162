"""market_data: one UTC day of market events in the store, from the simulator, the
recorder's output or imported archives."""

from collections.abc import Iterator
from datetime import date
from typing import Literal

import dagster as dg

from csx_core.quality import measure_market_day
from csx_pipelines.partitions import daily
from csx_pipelines.resources import LakeResource

GROUP = "market_data"


class MarketEventsConfig(dg.Config):
    """``simulator`` generates the day; ``store`` takes what the recorder or ``csx import``
    already wrote; ``archive`` imports Binance archive files from ``archive_dir`` first."""

    source: Literal["simulator", "store", "archive"] = "simulator"
    sim_seed: int = 7
    sim_symbols: int = 20
    archive_dir: str = ""


# No backfill policy (a beta parameter): Dagster's default is one run per day, so a backfill
# fans out into parallel runs bounded by the run queue, and a failed day is retried alone.
@dg.asset(group_name=GROUP, partitions_def=daily, kinds={"parquet"})
def market_events(
    context: dg.AssetExecutionContext, config: MarketEventsConfig, lake: LakeResource
) -> dg.MaterializeResult[None]:
    from csx_pipelines.market_sources import load_market_day

    day = date.fromisoformat(context.partition_key)
    start = date.fromisoformat(daily.start.date().isoformat())
    rows = load_market_day(
        lake.events(),
        day,
        source=config.source,
        first_day=start,
        seed=config.sim_seed,
        symbols=config.sim_symbols,
        archive_dir=config.archive_dir,
    )
    if not any(rows.values()):
        raise dg.Failure(f"no market events for {day} from source {config.source!r}")
    return dg.MaterializeResult(
        metadata={
            "source": config.source,
            "rows": dg.MetadataValue.json(rows),
            "total_rows": sum(rows.values()),
        }
    )


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            "market_events_schema",
            asset=market_events,
            blocking=True,
            description="Every file of the day verifies against its manifest and the contract"
            " schema.",
        ),
        dg.AssetCheckSpec(
            "market_events_monotone_and_unique",
            asset=market_events,
            blocking=True,
            description="Exchange ids grow with event time per symbol, and no exchange id repeats.",
        ),
        dg.AssetCheckSpec(
            "market_events_gaps",
            asset=market_events,
            description="Silences over a minute per symbol are reported (a warning: quiet"
            " symbols exist).",
        ),
    ]
)
def market_events_quality(
    context: dg.AssetCheckExecutionContext, lake: LakeResource
) -> Iterator[dg.AssetCheckResult]:
    """The three checks of a market day from one read of it (each read the whole day alone,
    three times per partition). Checks are unpartitioned (partitioned checks are a Dagster
    preview) but run inside the partitioned run, where the partition key is still the day
    being materialized."""
    q = measure_market_day(lake.events(), date.fromisoformat(context.partition_key))
    yield dg.AssetCheckResult(
        check_name="market_events_schema",
        passed=q.schema_ok,
        metadata={"rows": dg.MetadataValue.json(q.rows), "problems": "\n".join(q.schema_problems)},
    )
    yield dg.AssetCheckResult(
        check_name="market_events_monotone_and_unique",
        passed=q.monotone and q.duplicate_free,
        metadata={
            "out_of_order": dg.MetadataValue.json(q.out_of_order),
            "duplicates": dg.MetadataValue.json(q.duplicates),
        },
    )
    yield dg.AssetCheckResult(
        check_name="market_events_gaps",
        passed=not q.gaps,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "gaps": len(q.gaps),
            "symbols": q.symbols,
            "first_gaps": dg.MetadataValue.json([list(g) for g in q.gaps[:20]]),
        },
    )
