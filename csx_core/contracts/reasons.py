"""Reason codes: the one vocabulary scorer, alerts, dashboard and LLM use to say *why*."""

from __future__ import annotations

import enum


class ReasonCode(enum.StrEnum):
    """Why a symbol is in play. Values are stable identifiers stored in data; add new members,
    never rename or reuse one."""

    VOLUME_SURGE = "VOLUME_SURGE"
    TRADE_RATE_SURGE = "TRADE_RATE_SURGE"
    PRICE_BREAKOUT_UP = "PRICE_BREAKOUT_UP"
    PRICE_BREAKOUT_DOWN = "PRICE_BREAKOUT_DOWN"
    VOLATILITY_EXPANSION = "VOLATILITY_EXPANSION"
    TAKER_BUY_PRESSURE = "TAKER_BUY_PRESSURE"
    TAKER_SELL_PRESSURE = "TAKER_SELL_PRESSURE"
    BOOK_BID_HEAVY = "BOOK_BID_HEAVY"
    BOOK_ASK_HEAVY = "BOOK_ASK_HEAVY"
    TIGHT_SPREAD = "TIGHT_SPREAD"
    WIDE_SPREAD = "WIDE_SPREAD"
    LARGE_TRADE = "LARGE_TRADE"
    VWAP_DISLOCATION = "VWAP_DISLOCATION"
    FUNDING_EXTREME = "FUNDING_EXTREME"
    BASIS_DISLOCATION = "BASIS_DISLOCATION"
    LIQUIDATION_CASCADE = "LIQUIDATION_CASCADE"
    BTC_DECOUPLING = "BTC_DECOUPLING"
    CROSS_SECTION_LEADER = "CROSS_SECTION_LEADER"
    STALE_DATA = "STALE_DATA"
    DATA_GAP = "DATA_GAP"
    DIRECTION_UNCERTAIN = "DIRECTION_UNCERTAIN"

    @property
    def label(self) -> str:
        """Short human label for the dashboard and the LLM evidence packet."""
        return _LABELS[self]


_LABELS: dict[ReasonCode, str] = {
    ReasonCode.VOLUME_SURGE: "Volume surge",
    ReasonCode.TRADE_RATE_SURGE: "Trade rate surge",
    ReasonCode.PRICE_BREAKOUT_UP: "Breaking out up",
    ReasonCode.PRICE_BREAKOUT_DOWN: "Breaking out down",
    ReasonCode.VOLATILITY_EXPANSION: "Volatility expanding",
    ReasonCode.TAKER_BUY_PRESSURE: "Aggressive buying",
    ReasonCode.TAKER_SELL_PRESSURE: "Aggressive selling",
    ReasonCode.BOOK_BID_HEAVY: "Bid-heavy book",
    ReasonCode.BOOK_ASK_HEAVY: "Ask-heavy book",
    ReasonCode.TIGHT_SPREAD: "Tight spread",
    ReasonCode.WIDE_SPREAD: "Wide spread",
    ReasonCode.LARGE_TRADE: "Large prints",
    ReasonCode.VWAP_DISLOCATION: "Far from VWAP",
    ReasonCode.FUNDING_EXTREME: "Extreme funding",
    ReasonCode.BASIS_DISLOCATION: "Mark/index basis",
    ReasonCode.LIQUIDATION_CASCADE: "Liquidations",
    ReasonCode.BTC_DECOUPLING: "Decoupled from BTC",
    ReasonCode.CROSS_SECTION_LEADER: "Leads the market",
    ReasonCode.STALE_DATA: "Stale data",
    ReasonCode.DATA_GAP: "Data gap",
    ReasonCode.DIRECTION_UNCERTAIN: "Direction unclear: either way",
}
