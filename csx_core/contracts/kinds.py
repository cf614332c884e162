"""What every part of the platform needs to know about one market-event kind, in one place.

Each event contract (``csx_core.contracts.events``) is followed by its
:class:`EventDescriptor`: its stored identity (dedup keys, which version of a duplicate
wins), its table validation rules, its row builder, its merge rank, the feature fill that
turns it into bucket values and the Binance streams that carry it. The store, the validator,
the merge, the decoder's counters, the connector plan and the feature engine read the
descriptors, so adding a stream type means writing its wire struct, its contract with its
descriptor, and its feature fill (``docs/architecture.md`` has the checklist).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import pyarrow as pa

    from csx_core.contracts.events import MarketEvent

BoolArray = npt.NDArray[np.bool_]
Route = Literal["public", "market"]
"""Binance USD-M's routed WebSocket paths: ``/public`` (book streams), ``/market`` (the rest)."""


class RowRules(Protocol):
    """The vectorised checks a descriptor's ``row_rules`` may use over one table (the
    contract's Arrow schema); the store's validator implements it. Each row keeps the
    message of the first rule it breaks, so rules run in the order the contract checks."""

    table: pa.Table

    def require(self, ok: BoolArray, message: Callable[[int], str]) -> None:
        """Rows where ``ok`` is false break this rule; ``message(row)`` says how."""
        ...

    def values(self, name: str) -> npt.NDArray[np.float64]:
        """Column ``name`` as float64 (absent optionals read as 1.0, so they pass)."""
        ...

    def ints(self, name: str) -> npt.NDArray[np.int64]: ...

    def positive(self, *names: str) -> None:
        """Each column finite and > 0."""
        ...

    def non_negative(self, *names: str) -> None:
        """Each column finite and >= 0."""
        ...


@dataclass(frozen=True, kw_only=True)
class EventDescriptor:
    """One event kind's facts; the kind's name is its contract's msgspec tag.

    ``merge_rank``: the tie-break between kinds at an equal ``ts_event`` when kinds are
    merged into one stream (replay, parity); ranks are 0..n-1 and every digest depends on
    them, so a new kind takes the next free rank. ``dedup_keys``: the columns that identify
    one exchange event; a stored partition is sorted by ``ts_event``, ``symbol``, then the
    other keys. ``newest_wins``: among rows with one dedup key, the row with the largest of
    these columns (compared in this order) is kept; empty keeps the first occurrence.
    ``row_rules``: the contract's ``__post_init__`` rules over a table (held equal by
    property tests). ``from_row``: the contract built from one stored row, its values in
    schema order. ``fill``: the name of the feature-bucket fill for this kind (a key of
    ``csx_core.features.fill.FILLS``; several kinds may share one), or ``None`` for a kind
    the features do not use. ``channels``: the Binance stream-name prefixes that carry the
    kind (``aggTrade``, ``kline_``), served on ``route``.
    """

    contract: type[MarketEvent]
    merge_rank: int
    dedup_keys: tuple[str, ...]
    newest_wins: tuple[str, ...] = ()
    row_rules: Callable[[RowRules], None]
    from_row: Callable[..., MarketEvent]
    fill: str | None
    channels: tuple[str, ...]
    route: Route

    @property
    def kind(self) -> str:
        """The partition/table name and JSON tag (``trade``, ``book_top`` ...)."""
        return str(self.contract.__struct_config__.tag)

    @property
    def sort_keys(self) -> tuple[str, ...]:
        """The total order of a stored partition's rows."""
        rest = (k for k in self.dedup_keys if k not in ("symbol", "ts_event"))
        return ("ts_event", "symbol", *rest)


def in_merge_order(*descriptors: EventDescriptor) -> tuple[EventDescriptor, ...]:
    """``descriptors`` sorted by ``merge_rank``; ranks must be exactly 0..n-1 and kinds
    unique (checked at import, so a new kind cannot silently reorder the merge)."""
    ordered = tuple(sorted(descriptors, key=lambda d: d.merge_rank))
    ranks = [d.merge_rank for d in ordered]
    if ranks != list(range(len(ordered))):
        raise ValueError(f"event merge ranks must be 0..{len(ordered) - 1}, got {ranks}")
    kinds = [d.kind for d in ordered]
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"event kinds must be unique, got {kinds}")
    return ordered
