"""Fill one UTC day of the event store from the configured source."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from csx_core.store import EventStore


def load_market_day(
    store: EventStore,
    day: date,
    *,
    source: str,
    first_day: date,
    seed: int,
    symbols: int,
    archive_dir: str,
) -> dict[str, int]:
    """Make ``day`` present in ``store``; return its row count per event kind."""
    if source == "simulator":
        from csx_core.sim import SimConfig
        from csx_core.sim.market import simulate_day_blocks

        index = (day - first_day).days
        config = SimConfig(seed=seed, start=first_day, days=index + 1, n_symbols=symbols)
        for tables in simulate_day_blocks(config, index):  # a block of symbols at a time
            for kind, table in tables.items():
                store.write(kind, table)
    elif source == "archive":
        from csx_core.archive import import_archives

        if not archive_dir:
            raise ValueError("source 'archive' needs archive_dir")
        import_archives(sorted(Path(archive_dir).rglob(f"*{day.isoformat()}*")), store)
    elif source != "store":
        raise ValueError(f"unknown market data source {source!r}")
    return {kind: store.day_rows(kind, day) for kind in store.kinds() if day in store.dates(kind)}
