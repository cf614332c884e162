"""Engine settings: frozen, validated, and part of what makes a replay reproducible."""

from __future__ import annotations

from dataclasses import dataclass

from csx_core.features.buckets import MAX_HISTORY_MINUTES
from csx_core.features.names import BASELINE_MINUTES

MAX_FINE_CADENCE_S = 60
"""Up to here the second ring covers a tick interval."""
MAX_BAR_CADENCE_S = 3600
"""Up to here the minute ring covers a tick interval (and the longest window)."""


_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_cadence(text: str) -> int:
    """Seconds between ticks from ``30``, ``30s``, ``5m`` or ``1h``; ValueError, naming the
    accepted values, for anything else."""
    value = text.strip().lower()
    unit = _UNITS.get(value[-1:], 0) if value else 0
    digits = value[:-1] if unit else value
    if not digits.isdigit():
        raise ValueError(f"{text!r} is not a duration like 1, 60, 5m or 1h")
    seconds = int(digits) * (unit or 1)
    if not valid_cadence(seconds):
        raise ValueError(
            f"{text} is not a cadence: 1..{MAX_FINE_CADENCE_S} s, or whole minutes up to "
            f"{MAX_BAR_CADENCE_S} s that divide a day (5m, 15m, 1h, ...)"
        )
    return seconds


def valid_cadence(cadence_s: int) -> bool:
    """1..60 s, or whole minutes up to an hour that divide a day (bar cadences)."""
    if 1 <= cadence_s <= MAX_FINE_CADENCE_S:
        return True
    return 0 < cadence_s <= MAX_BAR_CADENCE_S and cadence_s % 60 == 0 and 86_400 % cadence_s == 0


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    """Settings of a ``FeatureEngine``. Same config + same events => same snapshots.

    * ``cadence_s``: seconds between ticks used by the event-time drivers: 1 to 60, or a
      bar cadence (whole minutes up to an hour: 300 for 5-minute bars, 3600 for hourly)
      that divides a day. Between two bar-cadence ticks the engine rolls its rings forward
      without computing (``FeatureEngine.advance``), and a tick's high/low covers the whole
      interval from the minute ring.
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

    @classmethod
    def for_cadence(
        cls, cadence_s: int, gap_after_s: int | None = None, stale_after_s: int | None = None
    ) -> EngineConfig:
        """The settings for ``cadence_s``. At a bar cadence the input is typically bars
        alone, one event per symbol and bar, so the gap and staleness rules default to two
        bars; fine cadences keep the engine's defaults. Training records the result in the
        package and a live runner serving it must use the same."""
        bars = 2 * cadence_s if cadence_s > MAX_FINE_CADENCE_S else None
        return cls(
            cadence_s=cadence_s,
            gap_after_s=gap_after_s or bars or cls.gap_after_s,
            stale_after_s=stale_after_s or bars or cls.stale_after_s,
        )

    @property
    def warm_minutes(self) -> int:
        """Whole minutes of history after a symbol's first minute before it is warm: its
        hourly baseline's and its beta regression's."""
        return max(BASELINE_MINUTES, self.beta_minutes)

    @property
    def warm_up_s(self) -> int:
        """Event seconds from a symbol's first event until it is warm, at most (the rest of
        its first minute, ``warm_minutes`` and the minute that closes them): the history a
        fresh engine needs before it ranks anything."""
        return 60 * (self.warm_minutes + 2)

    @property
    def bar_cadence(self) -> bool:
        """Ticks further apart than the second ring reaches (whole minutes, > 1 min)."""
        return self.cadence_s > MAX_FINE_CADENCE_S

    def __post_init__(self) -> None:
        if not valid_cadence(self.cadence_s):
            raise ValueError(
                f"cadence_s must be 1..{MAX_FINE_CADENCE_S} s or whole minutes up to "
                f"{MAX_BAR_CADENCE_S} s that divide a day, got {self.cadence_s}"
            )
        if self.stale_after_s < 1 or self.gap_after_s < 1:
            raise ValueError("stale_after_s and gap_after_s must be >= 1 s")
        if not 2 <= self.beta_minutes <= MAX_HISTORY_MINUTES:
            raise ValueError(
                f"beta_minutes must be in [2, {MAX_HISTORY_MINUTES}], got {self.beta_minutes}"
            )
        if not 2 <= self.min_beta_points <= self.beta_minutes:
            raise ValueError("min_beta_points must be in [2, beta_minutes]")
