"""Top-K per tick with hysteresis, emitting RankEvent ENTER/EXIT/MOVE.

Hysteresis keeps the list from flickering when probabilities jitter:

* a member stays while its overall position is within ``k + exit_buffer`` and its p is at
  least ``exit_p``; a member missing from the tick's batch leaves (no data, no claim);
* a non-member joins an open slot (best first) when its p is at least ``enter_p``; when the
  list is full it replaces the weakest member only if its p beats that member's by
  ``swap_margin``;
* members are shown ranked 1..n by p (ties by symbol); a MOVE is emitted when a member's
  shown rank changes.

Reason codes are fetched only for entering symbols (they are expensive); MOVE and EXIT
events carry the codes the symbol entered with.

Ordering is fully deterministic: (−p, symbol) everywhere, events EXIT (by old rank), then
ENTER/MOVE (by new rank).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from csx_core.contracts import RankAction, RankEvent, ReasonCode

FloatArray = npt.NDArray[np.float64]
Reasons = tuple[ReasonCode, ...]
ReasonSource = (
    Mapping[str, Reasons] | Sequence[Reasons] | Callable[[Sequence[str]], Mapping[str, Reasons]]
)


@dataclass(frozen=True, kw_only=True)
class RankerConfig:
    k: int = 10
    exit_buffer: int = 3
    enter_p: float = 0.0
    exit_p: float = 0.0
    swap_margin: float = 0.02

    def __post_init__(self) -> None:
        if self.k < 1 or self.exit_buffer < 0 or self.swap_margin < 0:
            raise ValueError("k >= 1, exit_buffer >= 0 and swap_margin >= 0 are required")
        if self.exit_p > self.enter_p:
            raise ValueError("exit_p must not exceed enter_p (that would be anti-hysteresis)")


class Ranker:
    """Stateful across ticks; feed it one tick at a time in time order."""

    def __init__(self, config: RankerConfig) -> None:
        self.config = config
        self._ranks: dict[str, int] = {}
        self._reasons: dict[str, Reasons] = {}

    @property
    def members(self) -> dict[str, int]:
        """Current symbol → shown rank (1-based)."""
        return dict(self._ranks)

    def update(
        self,
        ts: int,
        symbols: Sequence[str],
        p: FloatArray,
        reasons: ReasonSource = (),
    ) -> list[RankEvent]:
        """Apply one tick's probabilities; returns the events it caused. ``reasons`` may be
        a callable, asked once per tick for just the entering symbols."""
        cfg = self.config
        p_arr = np.asarray(p, dtype=np.float64)
        if len(p_arr) != len(symbols):
            raise ValueError(f"{len(symbols)} symbols but {len(p_arr)} probabilities")
        row_of = {sym: i for i, sym in enumerate(symbols)}
        order = np.lexsort((np.asarray(symbols, dtype=object), -p_arr))
        position = np.empty(len(order), dtype=np.int64)
        position[order] = np.arange(len(order))

        def prob(sym: str) -> float:
            return float(p_arr[row_of[sym]])

        members = {
            sym
            for sym in self._ranks
            if sym in row_of
            and position[row_of[sym]] < cfg.k + cfg.exit_buffer
            and prob(sym) >= cfg.exit_p
        }
        for i in order:
            sym = symbols[i]
            if sym in members:
                continue
            if not p_arr[i] >= cfg.enter_p:
                break
            if len(members) < cfg.k:
                members.add(sym)
                continue
            weakest = min(members, key=lambda m: (prob(m), _neg(m)))
            if p_arr[i] >= prob(weakest) + cfg.swap_margin:
                members.remove(weakest)
                members.add(sym)
            else:
                break
        new_ranks = {
            sym: rank + 1 for rank, sym in enumerate(sorted(members, key=lambda m: (-prob(m), m)))
        }
        probs = {sym: prob(sym) for sym in set(new_ranks) | (set(self._ranks) & set(row_of))}
        entering = sorted(set(new_ranks) - set(self._ranks))
        if entering:
            fresh = _reason_lookup(symbols, entering, reasons)
            for sym in entering:
                self._reasons[sym] = tuple(fresh.get(sym, ()))
        return self._events(ts, new_ranks, probs)

    def _events(
        self,
        ts: int,
        new_ranks: dict[str, int],
        probs: dict[str, float],
    ) -> list[RankEvent]:
        old = self._ranks
        events: list[RankEvent] = []
        for s in sorted(set(old) - set(new_ranks), key=lambda m: old[m]):
            events.append(
                RankEvent(
                    ts=ts,
                    symbol=s,
                    action=RankAction.EXIT,
                    rank=old[s],
                    prev_rank=old[s],
                    p_inplay=_clip(probs.get(s, 0.0)),
                    reason_codes=self._reasons.pop(s, ()),
                )
            )
        for s, rank in sorted(new_ranks.items(), key=lambda kv: kv[1]):
            if s not in old:
                action, prev = RankAction.ENTER, None
            elif old[s] != rank:
                action, prev = RankAction.MOVE, old[s]
            else:
                continue
            events.append(
                RankEvent(
                    ts=ts,
                    symbol=s,
                    action=action,
                    rank=rank,
                    prev_rank=prev,
                    p_inplay=_clip(probs[s]),
                    reason_codes=self._reasons.get(s, ()),
                )
            )
        self._ranks = new_ranks
        return events


def _neg(symbol: str) -> tuple[int, ...]:
    """Sort key that orders symbols descending, so the weakest tie-break is the last name."""
    return tuple(-ord(c) for c in symbol)


def _clip(p: float) -> float:
    return min(1.0, max(0.0, p)) if np.isfinite(p) else 0.0


def _reason_lookup(
    symbols: Sequence[str], needed: Sequence[str], reasons: ReasonSource
) -> Mapping[str, Reasons]:
    if callable(reasons):
        return reasons(needed)
    if isinstance(reasons, Mapping):
        return reasons
    if not reasons:
        return {}
    return dict(zip(symbols, reasons, strict=True))
