"""Engine settings: frozen, validated, and part of what makes a replay reproducible."""

from __future__ import annotations

from dataclasses import dataclass

from csx_core.features.buckets import MAX_AHEAD_S


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """Settings of a ``FeatureEngine``. Same config + same events => same snapshots.

    * ``cadence_s``: seconds between ticks used by the event-time drivers (a multiple of
      the 1-second bucket; at most 60 so the bucket ring always covers a tick interval).
    * ``stale_after_s``: a symbol with no event for longer than this is flagged ``stale``.
    * ``gap_after_s``: a symbol silent for longer than this has its silent seconds marked
      as a data gap (windows overlapping them become NaN). Use a value above the input's
      natural spacing (e.g. two bars for kline-only input).
    * ``benchmark_symbol``: the symbol ``beta_btc`` and ``relret_*`` are measured against.
    * ``beta_minutes``: minutes of 1-minute returns in the beta regression; at least
      ``min_beta_points`` finite pairs are required.
    """

    cadence_s: int = 1
    stale_after_s: int = 10
    gap_after_s: int = 120
    benchmark_symbol: str = "BTCUSDT"
    beta_minutes: int = 60
    min_beta_points: int = 10

    def __post_init__(self) -> None:
        if not 1 <= self.cadence_s <= MAX_AHEAD_S // 2:
            raise ValueError(f"cadence_s must be in [1, {MAX_AHEAD_S // 2}], got {self.cadence_s}")
        if self.stale_after_s < 1 or self.gap_after_s < 1:
            raise ValueError("stale_after_s and gap_after_s must be >= 1 s")
        if not 2 <= self.beta_minutes <= 120:
            raise ValueError(f"beta_minutes must be in [2, 120], got {self.beta_minutes}")
        if not 2 <= self.min_beta_points <= self.beta_minutes:
            raise ValueError("min_beta_points must be in [2, beta_minutes]")
