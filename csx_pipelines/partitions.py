"""The daily partitions of market data.

The window defaults to the simulator's three training days; point it at recorded or
imported data with ``CSX_PARTITIONS_START`` / ``CSX_PARTITIONS_END`` (end exclusive),
read once here at the composition root.
"""

from __future__ import annotations

import os

import dagster as dg

DEFAULT_START = "2026-01-01"
DEFAULT_END = "2026-01-04"

daily = dg.DailyPartitionsDefinition(
    start_date=os.environ.get("CSX_PARTITIONS_START", DEFAULT_START),
    end_date=os.environ.get("CSX_PARTITIONS_END", DEFAULT_END),
)
