"""Feature health: how much of the replayed feature table is usable."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

# Features a live screener cannot do without: if these are mostly NaN on warm, gap-free
# rows the replay (or the data) is broken.
CORE_FEATURES = ("ret_1m", "rvol_5m", "spread_bps", "qvol_1m", "count_1m")
BOOK_FEATURES = frozenset({"spread_bps"})
"""NaN by construction when the data has no book (bars alone): reported, not gated."""


@dataclass(frozen=True)
class FeatureHealth:
    rows: int
    warm_share: float
    gap_share: float
    stale_share: float
    nan_share: dict[str, float] = field(default_factory=dict)
    not_gated: tuple[str, ...] = ()
    max_nan_share: float = 0.05
    max_stale_share: float = 0.05

    @property
    def passed(self) -> bool:
        return (
            self.rows > 0
            and all(
                v <= self.max_nan_share
                for k, v in self.nan_share.items()
                if k not in self.not_gated
            )
            and self.stale_share <= self.max_stale_share
        )

    def metadata(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "warm_share": self.warm_share,
            "gap_share": self.gap_share,
            "stale_share": self.stale_share,
            "nan_share": self.nan_share,
            "not_gated": list(self.not_gated),
            "max_nan_share": self.max_nan_share,
            "max_stale_share": self.max_stale_share,
        }


def measure_feature_health(
    files: list[Path], *, stale_column: str = "stale", has_book: bool = True
) -> FeatureHealth:
    """NaN share of the core features and the stale share, over warm gap-free rows; without
    book data (``has_book`` false) the book features are measured but not gated."""
    present = set(pq.read_schema(files[0]).names) if files else set()
    core = [c for c in CORE_FEATURES if c in present]
    columns = ["warm", "gap", *core, *([stale_column] if stale_column in present else [])]
    rows = warm = gaps = stale = 0
    nans = dict.fromkeys(core, 0)
    for path in files:
        table = pq.read_table(path, columns=columns)
        w = np.asarray(table.column("warm").to_numpy(zero_copy_only=False), dtype=bool)
        g = np.asarray(table.column("gap").to_numpy(zero_copy_only=False), dtype=bool)
        usable = w & ~g
        rows += len(w)
        warm += int(w.sum())
        gaps += int(g.sum())
        for name in core:
            values = np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=float)
            nans[name] += int(np.isnan(values[usable]).sum())
        if stale_column in present:
            s = np.asarray(table.column(stale_column).to_numpy(zero_copy_only=False), dtype=float)
            stale += int((s[usable] > 0).sum())
    usable_rows = max(1, warm - gaps)
    return FeatureHealth(
        rows=rows,
        warm_share=warm / max(1, rows),
        gap_share=gaps / max(1, rows),
        stale_share=stale / usable_rows,
        nan_share={k: v / usable_rows for k, v in nans.items()},
        not_gated=() if has_book else tuple(sorted(BOOK_FEATURES & set(core))),
    )
