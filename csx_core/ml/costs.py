"""One versioned cost model for labels, the label policy's PnL and the explain packet's costs.

All costs are round-trip, in basis points of the traded notional:

* taker fee on entry and on exit (tiered; 5 bps each by default);
* half the quoted spread on entry and half on exit — a long buys at the ask and sells at the
  bid — priced from the book at decision time, ``(ask - bid) / mid``; the two halves are
  reported together as ``half_spread_bps``;
* square-root impact for the configured notional against the recent quote volume (USD traded
  over ``volume_window_s`` seconds) — the caller passes that volume explicitly;
* optional funding, charged pro rata for the holding time.

``version`` is a digest of every parameter, so two models priced with different costs can
never share a version string.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from csx_core.contracts import CostBreakdown

FloatArray = npt.NDArray[np.float64]

# Binance USD-M taker fees by VIP tier, bps per side (public schedule, without BNB discount).
DEFAULT_FEE_TIERS: dict[str, float] = {
    "VIP0": 5.0,
    "VIP1": 4.0,
    "VIP2": 3.5,
    "VIP3": 3.2,
    "VIP4": 3.0,
}
FUNDING_INTERVAL_S = 8 * 3600


class CostModelError(ValueError):
    """A cost model parameter that makes no sense."""


@dataclass(frozen=True, kw_only=True)
class CostModel:
    """Round-trip trading cost for a position of ``notional_usd``.

    ``impact_coef_bps`` is the square-root impact coefficient: impact =
    ``impact_coef_bps * sqrt(notional_usd / quote_volume_usd)`` per round trip, capped at
    ``max_impact_bps`` (a symbol that traded nothing is not free, but not infinite either).
    ``reference_quote_volume_usd`` is used where no volume is available.
    """

    fee_tier: str = "VIP0"
    fee_tiers: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FEE_TIERS))
    notional_usd: float = 10_000.0
    impact_coef_bps: float = 10.0
    volume_window_s: float = 60.0
    reference_quote_volume_usd: float = 1_000_000.0
    max_impact_bps: float = 50.0
    funding_bps_per_8h: float = 0.0

    def __post_init__(self) -> None:
        if self.fee_tier not in self.fee_tiers:
            raise CostModelError(f"fee_tier {self.fee_tier!r} not in {sorted(self.fee_tiers)}")
        for tier, bps in self.fee_tiers.items():
            if not (math.isfinite(bps) and 0.0 <= bps < 100.0):
                raise CostModelError(f"fee tier {tier!r}: {bps} bps is not in [0, 100)")
        positive = {
            "notional_usd": self.notional_usd,
            "volume_window_s": self.volume_window_s,
            "reference_quote_volume_usd": self.reference_quote_volume_usd,
        }
        for name, value in positive.items():
            if not (math.isfinite(value) and value > 0):
                raise CostModelError(f"{name} must be finite and > 0, got {value}")
        for name in ("impact_coef_bps", "max_impact_bps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise CostModelError(f"{name} must be finite and >= 0, got {value}")
        if not math.isfinite(self.funding_bps_per_8h):
            raise CostModelError("funding_bps_per_8h must be finite")

    # -- identity --------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def version(self) -> str:
        blob = json.dumps(self.params(), sort_keys=True).encode()
        return "cost-v1-" + hashlib.sha256(blob).hexdigest()[:12]

    def to_json(self) -> str:
        return json.dumps({"version": self.version, "params": self.params()}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CostModel:
        """Rebuild from :meth:`to_json`; refuses a blob whose version does not match."""
        data = json.loads(text)
        model = cls(**data["params"])
        if model.version != data["version"]:
            raise CostModelError(f"version {data['version']} does not match its params")
        return model

    @property
    def fee_bps_per_side(self) -> float:
        return self.fee_tiers[self.fee_tier]

    # -- pricing ---------------------------------------------------------------------------
    def components_bps(
        self,
        bid: FloatArray,
        ask: FloatArray,
        quote_volume_usd: FloatArray | None = None,
        holding_s: float = 0.0,
    ) -> dict[str, FloatArray]:
        """Vectorised cost components (bps), one value per row; NaN where the book is not
        usable (missing, crossed or non-positive prices)."""
        bid = np.asarray(bid, dtype=np.float64)
        ask = np.asarray(ask, dtype=np.float64)
        mid = 0.5 * (bid + ask)
        ok = (bid > 0) & (ask >= bid)
        with np.errstate(invalid="ignore", divide="ignore"):
            spread = np.where(ok, (ask - bid) / mid * 1e4, np.nan)
            if quote_volume_usd is None:
                volume = np.full(bid.shape, self.reference_quote_volume_usd)
            else:
                volume = np.asarray(quote_volume_usd, dtype=np.float64)
                volume = np.where(np.isfinite(volume), volume, self.reference_quote_volume_usd)
            impact = self.impact_coef_bps * np.sqrt(self.notional_usd / np.maximum(volume, 0.0))
        impact = np.minimum(np.nan_to_num(impact, nan=np.inf), self.max_impact_bps)
        impact = np.where(ok, impact, np.nan)
        fee = np.where(ok, 2.0 * self.fee_bps_per_side, np.nan)
        funding = np.where(ok, self.funding_bps_per_8h * holding_s / FUNDING_INTERVAL_S, np.nan)
        return {"fee": fee, "half_spread": spread, "slippage": impact, "funding": funding}

    def total_bps(
        self,
        bid: FloatArray,
        ask: FloatArray,
        quote_volume_usd: FloatArray | None = None,
        holding_s: float = 0.0,
    ) -> FloatArray:
        """Vectorised round-trip cost in bps (NaN where the book is unusable)."""
        c = self.components_bps(bid, ask, quote_volume_usd, holding_s)
        total: FloatArray = c["fee"] + c["half_spread"] + c["slippage"] + c["funding"]
        return total

    def breakdown(
        self,
        bid: float,
        ask: float,
        quote_volume_usd: float | None = None,
        holding_s: float = 0.0,
    ) -> CostBreakdown:
        """One decision's cost, as the explain packet carries it."""
        vol = None if quote_volume_usd is None else np.array([quote_volume_usd])
        c = self.components_bps(np.array([bid]), np.array([ask]), vol, holding_s)
        parts = {k: float(v[0]) for k, v in c.items()}
        if any(math.isnan(v) for v in parts.values()):
            raise CostModelError(f"unusable book: bid={bid} ask={ask}")
        return CostBreakdown(
            fee_bps=parts["fee"],
            half_spread_bps=parts["half_spread"],
            slippage_bps=parts["slippage"],
            funding_bps=parts["funding"],
            total_bps=sum(parts.values()),
        )
