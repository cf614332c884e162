"""The SoakSummary: one JSON document per soak run, the evidence the thresholds judge."""

from __future__ import annotations

from typing import ClassVar

from csx_core.contracts.base import Contract, require, require_non_negative


class SoakSummary(Contract, frozen=True, kw_only=True):
    """Counts are totals over the run; times are seconds unless the name says ms; memory is
    MiB of resident set size."""

    SCHEMA_VERSION: ClassVar[int] = 1
    profile: str
    duration_s: float
    frames_in: int
    frames_dropped: int
    frames_malformed: int
    malformed_injected: int
    reconnects: int
    reconnect_time_p50_s: float
    reconnect_time_p99_s: float
    readiness_flaps: int
    gap_ledger_entries: int
    injected_outages: int
    outages_without_gap_entry: int
    tick_drift_p99_ms: float
    queue_depth_max: int
    queue_capacity: int
    rss_start_mib: float
    rss_max_mib: float
    rss_end_mib: float
    crashes: int
    unhandled_exceptions: int
    ticks_skipped: int = 0
    """Due ticks the runner shed while behind its feed (``csx_ticks_skipped_total``)."""
    frames_sent: int = 0
    """Frames the exchange wrote to its sockets (its ``frames_sent``)."""
    frames_lost_in_transit: int = 0
    """Frames written by the exchange that the runner never received (``frames_sent -
    frames_in``, at least 0). A run ends with the exchange frozen while the runner drains
    its sockets, so these are the frames thrown away with the exchange's transport buffer
    when it cut a link (``frames_sent`` counts a frame when it is written to the transport;
    only bad frames are reclassified as discarded at a cut)."""
    malformed_undelivered: int = 0
    """Injected malformed/oversized frames that never reached the runner's decoder
    (``malformed_injected - frames_malformed``): discarded unsent by the exchange (queued at
    a close, in the transport buffer at a cut), still queued in it, or lost with a link;
    ``malformed_unaccounted`` is the part the exchange does not report."""
    malformed_discarded: int = 0
    """Of those, the ones the exchange reports it discarded unsent (its
    ``malformed_discarded`` counter; 0 when the exchange does not count them)."""
    malformed_sent: int = 0
    """Injected bad frames the exchange wrote to its sockets (its ``malformed_sent``)."""
    malformed_queued: int = 0
    """Injected bad frames still queued in the exchange when its stats were read; its ledger
    is exact: ``malformed_injected == malformed_sent + malformed_discarded +
    malformed_queued`` (``malformed_ledger_error`` measures it)."""

    def __post_init__(self) -> None:
        require_non_negative(
            self,
            "duration_s",
            "reconnect_time_p50_s",
            "reconnect_time_p99_s",
            "tick_drift_p99_ms",
            "rss_start_mib",
            "rss_max_mib",
            "rss_end_mib",
        )
        for name in (
            "frames_in",
            "frames_dropped",
            "frames_malformed",
            "reconnects",
            "readiness_flaps",
            "gap_ledger_entries",
            "injected_outages",
            "outages_without_gap_entry",
            "queue_depth_max",
            "queue_capacity",
            "crashes",
            "unhandled_exceptions",
            "malformed_injected",
            "ticks_skipped",
            "frames_sent",
            "frames_lost_in_transit",
            "malformed_undelivered",
            "malformed_discarded",
            "malformed_sent",
            "malformed_queued",
        ):
            require(self, getattr(self, name) >= 0, name, "must be >= 0")

    @property
    def derived(self) -> dict[str, float]:
        """Ratios the thresholds speak in, next to the raw fields."""
        frames = max(1, self.frames_in)
        return {
            "drop_ratio": self.frames_dropped / frames,
            "malformed_ratio": self.frames_malformed / frames,
            "queue_fill_max": self.queue_depth_max / max(1, self.queue_capacity),
            "rss_growth_ratio": (self.rss_end_mib - self.rss_start_mib)
            / max(1e-9, self.rss_start_mib),
            # injected malformed frames neither counted by the runner's decoder nor reported
            # discarded or still queued by the exchange (lost with a link the runner closed)
            "malformed_unaccounted": float(
                max(
                    0,
                    self.malformed_undelivered - self.malformed_discarded - self.malformed_queued,
                )
            ),
            # the exchange's ledger: every injected bad frame either sent or discarded (only
            # meaningful when the exchange reports both counters)
            "malformed_ledger_error": float(
                abs(
                    self.malformed_injected
                    - self.malformed_sent
                    - self.malformed_discarded
                    - self.malformed_queued
                )
                if self.malformed_sent
                else 0
            ),
        }

    def value(self, name: str) -> float:
        derived = self.derived
        if name in derived:
            return derived[name]
        if name not in self.__struct_fields__:
            raise KeyError(f"SoakSummary has no measure {name!r}")
        return float(getattr(self, name))
