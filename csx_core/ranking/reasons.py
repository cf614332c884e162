"""Feature contributions → ReasonCode: the one table that says which feature means what.

Rules match feature *names* by regular expression (first match wins), so new features from
the engine are mapped without code changes when they follow its naming. Direction-aware
codes use the sign of the feature value — relative to the training median for ``centered``
rules (a spread is "wide" above its usual level, never negative). Only features pushing the
score up (positive contribution) become reasons; at most ``k`` distinct codes per row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from csx_core.contracts import ReasonCode

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ReasonRule:
    pattern: str
    positive: ReasonCode
    negative: ReasonCode | None = None
    centered: bool = False


R = ReasonCode
DEFAULT_RULES: tuple[ReasonRule, ...] = (
    ReasonRule(r"stale|(^|_)since_", R.STALE_DATA),
    ReasonRule(r"(^|_)gap", R.DATA_GAP),
    ReasonRule(r"liq", R.LIQUIDATION_CASCADE),
    ReasonRule(r"funding", R.FUNDING_EXTREME),
    ReasonRule(r"basis|premium", R.BASIS_DISLOCATION),
    ReasonRule(r"vwap", R.VWAP_DISLOCATION),
    ReasonRule(r"btc|beta|corr|relret", R.BTC_DECOUPLING),
    ReasonRule(r"(^|_)(xs|cross|xsec)(_|$)", R.CROSS_SECTION_LEADER),
    ReasonRule(r"spread", R.WIDE_SPREAD, R.TIGHT_SPREAD, centered=True),
    ReasonRule(r"book|obi|depth", R.BOOK_BID_HEAVY, R.BOOK_ASK_HEAVY),
    ReasonRule(r"taker|imb|ofi|flow", R.TAKER_BUY_PRESSURE, R.TAKER_SELL_PRESSURE),
    ReasonRule(r"trade_rate|n_trades|trade_count|(^|_)count|(^|_)tr_z", R.TRADE_RATE_SURGE),
    ReasonRule(r"large|max_trade|maxshare|big_", R.LARGE_TRADE),
    ReasonRule(r"vol_z|volume|qvol|quote_vol|(^|_)vz(_|$)", R.VOLUME_SURGE),
    ReasonRule(r"(^|_)(rv|rvol|vol|volatility|range|atr|std)(_|$)", R.VOLATILITY_EXPANSION),
    ReasonRule(
        r"(^|_)(ret|return|mom|breakout|midchg)", R.PRICE_BREAKOUT_UP, R.PRICE_BREAKOUT_DOWN
    ),
)


def match_rule(name: str, rules: tuple[ReasonRule, ...] = DEFAULT_RULES) -> ReasonRule | None:
    for rule in rules:
        if re.search(rule.pattern, name):
            return rule
    return None


class ReasonMapper:
    """Maps per-row feature contributions to the top reason codes."""

    def __init__(
        self,
        names: tuple[str, ...],
        centers: FloatArray | None = None,
        rules: tuple[ReasonRule, ...] = DEFAULT_RULES,
    ) -> None:
        self.names = names
        self.centers = np.zeros(len(names)) if centers is None else np.asarray(centers)
        self._rules = [match_rule(n, rules) for n in names]
        self._mapped = np.array([r is not None for r in self._rules], dtype=bool)

    def top_reasons(
        self, contrib: FloatArray, values: FloatArray, k: int = 3
    ) -> list[tuple[ReasonCode, ...]]:
        """``contrib`` and ``values`` are rows × features; returns one tuple per row."""
        c = np.where(self._mapped[None, :], np.asarray(contrib, dtype=np.float64), -np.inf)
        c = np.where(c > 0, c, -np.inf)
        depth = min(c.shape[1], 2 * k + 2)
        order = np.argsort(-c, axis=1, kind="stable")[:, :depth]
        out: list[tuple[ReasonCode, ...]] = []
        for i in range(c.shape[0]):
            codes: list[ReasonCode] = []
            for j in order[i]:
                if not np.isfinite(c[i, j]) or len(codes) == k:
                    break
                code = self.code_for(int(j), float(values[i, j]))
                if code not in codes:
                    codes.append(code)
            out.append(tuple(codes))
        return out

    def code_for(self, j: int, value: float) -> ReasonCode:
        rule = self._rules[j]
        if rule is None:
            raise KeyError(f"feature {self.names[j]!r} has no reason rule")
        if rule.negative is None:
            return rule.positive
        ref = self.centers[j] if rule.centered else 0.0
        return rule.positive if value >= ref else rule.negative
